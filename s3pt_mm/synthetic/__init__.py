"""Procedural synthetic driving scenes written in nuScenes format (see docs/synthetic_scenes.md).

The subpackage itself uses only numpy and Pillow (no OpenMMLab import of its own).
"""
from .classes import IGNORE_INDEX, SEMANTIC_CLASSES, SemanticClass, colorize_semantic
from .generator import GenerationSummary, SyntheticConfig, generate_dataset, make_scene

__all__ = ['SEMANTIC_CLASSES', 'SemanticClass', 'IGNORE_INDEX', 'colorize_semantic',
           'SyntheticConfig', 'generate_dataset', 'make_scene', 'GenerationSummary']
