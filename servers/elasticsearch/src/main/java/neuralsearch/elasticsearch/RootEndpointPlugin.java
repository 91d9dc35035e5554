package neuralsearch.elasticsearch;

import org.elasticsearch.Build;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.features.NodeFeature;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.xcontent.XContentBuilder;

import java.util.Collection;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The {@code GET /} and {@code HEAD /} endpoints ("info" and "ping" in the clients).
 *
 * <p>Elasticsearch ships them in its {@code rest-root} module, which the integ-test-zip distribution
 * (the only server distribution on Maven Central) leaves out. Without them elasticsearch-py's
 * {@code info()} fails with 405 and {@code ping()} returns False. This module answers with the same
 * JSON shape as the stock endpoint, built from the running node's own build information.
 */
public final class RootEndpointPlugin extends Plugin implements ActionPlugin {

    private final AtomicReference<ClusterService> clusterService = new AtomicReference<>();

    @Override
    public Collection<?> createComponents(PluginServices services) {
        clusterService.set(services.clusterService());
        return List.of();
    }

    @Override
    public Collection<RestHandler> getRestHandlers(
        RestHandlersServices services,
        Supplier<DiscoveryNodes> nodesInCluster,
        Predicate<NodeFeature> clusterSupportsFeature
    ) {
        return List.of(new RootHandler(clusterService::get));
    }

    static final class RootHandler extends BaseRestHandler {
        private final Supplier<ClusterService> clusterService;

        RootHandler(Supplier<ClusterService> clusterService) {
            this.clusterService = clusterService;
        }

        @Override
        public String getName() {
            return "neural_search_root_action";
        }

        @Override
        public List<Route> routes() {
            return List.of(new Route(RestRequest.Method.GET, "/"), new Route(RestRequest.Method.HEAD, "/"));
        }

        @Override
        public boolean canTripCircuitBreaker() {
            return false;
        }

        @Override
        protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
            return channel -> {
                ClusterService cluster = clusterService.get();
                Build build = Build.current();
                XContentBuilder out = channel.newBuilder();
                if (request.hasParam("pretty") == false) {
                    out.prettyPrint().lfAtEnd();
                }
                out.startObject();
                out.field("name", cluster.getNodeName());
                out.field("cluster_name", cluster.getClusterName().value());
                out.field("cluster_uuid", cluster.state().metadata().clusterUUID());
                out.startObject("version");
                out.field("number", build.qualifiedVersion());
                out.field("build_flavor", "default");
                out.field("build_type", build.type().displayName());
                out.field("build_hash", build.hash());
                out.field("build_date", build.date());
                out.field("build_snapshot", build.isSnapshot());
                out.field("lucene_version", luceneVersion());
                out.field("minimum_wire_compatibility_version", build.minWireCompatVersion());
                out.field("minimum_index_compatibility_version", build.minIndexCompatVersion());
                out.endObject();
                out.field("tagline", "You Know, for Search");
                out.endObject();
                channel.sendResponse(new RestResponse(RestStatus.OK, out));
            };
        }

        /** Read reflectively so that compiling this module needs no Lucene jar. */
        private static String luceneVersion() {
            try {
                return String.valueOf(Class.forName("org.apache.lucene.util.Version").getField("LATEST").get(null));
            } catch (ReflectiveOperationException e) {
                return "unknown";
            }
        }
    }
}
