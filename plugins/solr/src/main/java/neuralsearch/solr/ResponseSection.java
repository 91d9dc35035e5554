package neuralsearch.solr;

import java.util.List;
import neuralsearch.fusion.FusedHit;
import neuralsearch.fusion.FusionSpec;
import neuralsearch.fusion.LegScore;
import org.apache.solr.common.util.SimpleOrderedMap;

/** The top-level {@code neural_search} section of the handler's answers. */
final class ResponseSection {
  static final String NAME = "neural_search";

  private ResponseSection() {}

  /** The capability probe (describe=true): which plugin answers, and on which Solr. */
  static SimpleOrderedMap<Object> describe(String runningSolr) {
    SimpleOrderedMap<Object> section = new SimpleOrderedMap<>();
    section.add("plugin", PluginInfo.name());
    section.add("version", PluginInfo.version());
    section.add("solr", runningSolr);
    section.add("built_for_solr", PluginInfo.builtForSolr());
    return section;
  }

  /**
   * How the page was fused: the canonical fusion text, the depth, and for each page document
   * (by id, in page order) each leg that retrieved it; a leg that did not is absent.
   */
  static SimpleOrderedMap<Object> fusion(FusionSpec fusion, int depth, List<FusedHit<String>> page, List<String> legNames) {
    SimpleOrderedMap<Object> legs = new SimpleOrderedMap<>();
    for (FusedHit<String> hit : page) {
      SimpleOrderedMap<Object> perLeg = new SimpleOrderedMap<>();
      for (int i = 0; i < legNames.size(); i++) {
        LegScore leg = hit.leg(i);
        if (leg != null) {
          SimpleOrderedMap<Object> detail = new SimpleOrderedMap<>();
          detail.add("rank", leg.rank());
          detail.add("score", leg.score());
          detail.add("normalized", leg.normalized());
          perLeg.add(legNames.get(i), detail);
        }
      }
      legs.add(hit.key(), perLeg);
    }
    SimpleOrderedMap<Object> section = new SimpleOrderedMap<>();
    section.add("fusion", fusion.toString());
    section.add("depth", depth);
    section.add("legs", legs);
    return section;
  }
}
