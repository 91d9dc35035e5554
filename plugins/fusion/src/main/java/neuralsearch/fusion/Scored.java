package neuralsearch.fusion;

/** One hit of a leg as the engine ranked it: an engine-specific document key and its raw score. */
public record Scored<K>(K key, double score) {}
