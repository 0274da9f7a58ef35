"""Name the sample a transform is working on, for error messages a person can act on."""
from typing import Mapping


def describe_sample(results: Mapping) -> str:
    """``'sample 3 (token 9f.., CAM_FRONT, image /data/x.jpg)'`` from the keys present.

    Args:
        results (Mapping): a pipeline's results dict (a :class:`NuScenesCameraDataset` item).

    Returns:
        str: a short description naming the sample, camera and image.
    """
    labels = (('sample_token', 'token '), ('channel', ''), ('img_path', 'image '))
    parts = [f'{label}{results[key]}' for key, label in labels if results.get(key) is not None]
    index = results.get('sample_idx', '?')
    return f'sample {index}' + (f' ({", ".join(parts)})' if parts else '')
