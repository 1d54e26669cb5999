"""Preference pairs from execution outcomes (the heuristic hierarchy and its ablations)."""

from eta.prefer.composition import Composition
from eta.prefer.criteria import CRITERION_NAMES, TRACE_CRITERIA, Criterion, compare, make_criteria
from eta.prefer.heuristic import HeuristicConfig, Pairing, load_heuristic
from eta.prefer.pairs import Pair, build_pairs, read_pairs, to_hf_dataset, write_pairs
from eta.prefer.records import read_records

__all__ = ["CRITERION_NAMES", "TRACE_CRITERIA", "Composition", "Criterion", "HeuristicConfig", "Pair", "Pairing",
           "build_pairs", "compare", "load_heuristic", "make_criteria", "read_pairs", "read_records", "to_hf_dataset",
           "write_pairs"]
