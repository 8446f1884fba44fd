"""GenEmail segmentation stage: business rules, the hierarchical segmenter, persistence, cluster analysis.

Public API (re-exported here; heavy imports happen inside the functions)::

    from genemail.segmentation import HierarchicalSegmenter, save_segmenter, load_segmenter
"""

from genemail.segmentation.model import HierarchicalSegmenter
from genemail.segmentation.persistence import FORMAT_VERSION, TRUSTED_TYPES, load_segmenter, save_segmenter
from genemail.segmentation.rules import RuleConfig, ValueTiers, assign_l2, business_labels, cold_start_reasons

__all__ = [
    "FORMAT_VERSION",
    "TRUSTED_TYPES",
    "HierarchicalSegmenter",
    "RuleConfig",
    "ValueTiers",
    "assign_l2",
    "business_labels",
    "cold_start_reasons",
    "load_segmenter",
    "save_segmenter",
]
