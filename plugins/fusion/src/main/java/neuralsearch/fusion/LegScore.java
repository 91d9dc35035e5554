package neuralsearch.fusion;

/**
 * How one leg saw a fused hit: its 1-based rank in that leg, its raw engine score, and the value
 * that went into the fused score (the normalised score for linear fusion, the RRF contribution
 * weight / (k + rank) for RRF).
 */
public record LegScore(int rank, double score, double normalized) {}
