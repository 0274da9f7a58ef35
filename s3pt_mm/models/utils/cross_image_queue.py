"""FIFO memory of teacher object tokens for CrIBo's cross-image bootstrapping
(docs/method.md §6.2)."""
from typing import List, NamedTuple, Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn


class CrossImageMatch(NamedTuple):
    """Result of :meth:`CrossImageQueue.retrieve` for M current objects seen in V views.

    Attributes:
        neighbours (Tensor): (V, M, D) for direction v, the queue token **of view v** nearest
            (cosine) to the current view-v object token m; backbone space, un-normalised.
        indices (Tensor): (V, M) long flat queue index ``slot * k + object`` of that neighbour.
        consistent (Tensor): (V, M) bool, the pair is cycle-consistent (and the queue was not
            empty).
    """

    neighbours: Tensor
    indices: Tensor
    consistent: Tensor

    @property
    def consistent_ratio(self) -> Tensor:
        """() fp32 share of cycle-consistent pairs over both directions (0 when M = 0)."""
        if self.consistent.numel() == 0:
            return self.consistent.new_zeros((), dtype=torch.float32)
        return self.consistent.float().mean()


#: How :func:`nearest_neighbours` scores the bank (its ``search`` argument).
SEARCH_MODES = ('auto', 'exact', 'bf16_rerank')


def resolve_search(search: str, device: torch.device) -> str:
    """``'auto'`` → ``'bf16_rerank'`` on CUDA (tensor cores), ``'exact'`` elsewhere."""
    if search not in SEARCH_MODES:
        raise ValueError(f'search must be one of {SEARCH_MODES}, got {search!r}')
    if search == 'auto':
        return 'bf16_rerank' if torch.device(device).type == 'cuda' else 'exact'
    return search


@torch.no_grad()
def nearest_neighbours(queries: Tensor, bank: Tensor, bank_valid: Tensor,
                       max_chunk_elements: int = 2**27, search: str = 'exact',
                       candidates: int = 16) -> Tuple[Tensor, Tensor]:
    """Index of the most cosine-similar valid bank row for every query.

    The bank is scanned in chunks so that neither the similarity matrix nor the normalised bank
    chunk exceeds ``max_chunk_elements`` entries (S3PT: 4,096 queries against 320,000 queue
    tokens would be 5 GB in one piece). Autocast is disabled.

    Two ways to score (``search``):

    - ``'exact'``: fp32 cosine similarities, argmax. Ties are broken arbitrarily.
    - ``'bf16_rerank'``: the ``candidates`` best rows of every query by a bf16 matmul (tensor
      cores: at S3PT's size, 3,200 queries × 320,000 rows × 384 channels per view, this is the
      difference between ~1.6 TFLOP of fp32 and of bf16 work per step), then the exact fp32
      cosine of those candidates only, argmax. The result equals ``'exact'`` unless more than
      ``candidates`` rows lie within the bf16 rounding (~1e-3 in cosine) of the best one; then
      it is one of those rows.
    - ``'auto'``: ``'bf16_rerank'`` on CUDA, ``'exact'`` elsewhere.

    Args:
        queries (Tensor): (M, D) query vectors (any norm).
        bank (Tensor): (E, D) candidate vectors (any norm).
        bank_valid (Tensor): (E,) bool, candidates that may be returned.
        max_chunk_elements (int): upper bound on max(M, D) × chunk length. Defaults to 2**27.
        search (str): ``'exact'``, ``'bf16_rerank'`` or ``'auto'``. Defaults to ``'exact'``.
        candidates (int): rows re-scored exactly per query with ``'bf16_rerank'``. Defaults
            to 16.

    Returns:
        Tuple[Tensor, Tensor]: (M,) long index into ``bank`` (0 where nothing was found) and
        (M,) bool ``found`` (False when no bank row is valid).
    """
    if queries.dim() != 2 or bank.dim() != 2 or queries.shape[1] != bank.shape[1]:
        raise ValueError(f'queries (M, D) and bank (E, D) must share D, got '
                         f'{tuple(queries.shape)} and {tuple(bank.shape)}')
    if bank_valid.shape != bank.shape[:1]:
        raise ValueError(f'bank_valid must be ({bank.shape[0]},), got {tuple(bank_valid.shape)}')
    if candidates < 1:
        raise ValueError(f'candidates must be >= 1, got {candidates}')
    search = resolve_search(search, queries.device)
    num_queries = queries.shape[0]
    if num_queries == 0:
        return (torch.zeros(0, dtype=torch.long, device=queries.device),
                torch.zeros(0, dtype=torch.bool, device=queries.device))
    # Bounds both the (M, chunk) similarities and the (chunk, D) normalised bank copy.
    chunk = max(1, max_chunk_elements // max(num_queries, bank.shape[1]))
    with torch.autocast(device_type=queries.device.type, enabled=False):
        query_dirs = F.normalize(queries.float(), dim=-1)
        if search == 'exact':
            index, found = _scan(query_dirs, bank, bank_valid, chunk, 1, torch.float32)
            return index.squeeze(1), found
        # Coarse pass: the best `candidates` rows of each query in bf16 ...
        shortlist, found = _scan(query_dirs, bank, bank_valid, chunk,
                                 top=min(candidates, bank.shape[0]), dtype=torch.bfloat16)
        # ... then their exact fp32 cosines (invalid rows stay out: -inf).
        rows = F.normalize(bank[shortlist].float(), dim=-1)  # (M, c, D)
        exact = torch.einsum('md,mcd->mc', query_dirs, rows)
        exact = exact.masked_fill(~bank_valid[shortlist], float('-inf'))
        best = exact.argmax(dim=1, keepdim=True)
        return shortlist.gather(1, best).squeeze(1), found


def _scan(query_dirs: Tensor, bank: Tensor, bank_valid: Tensor, chunk: int, top: int,
          dtype: torch.dtype) -> Tuple[Tensor, Tensor]:
    """Chunked scan for the ``top`` most similar valid rows of every unit query, in ``dtype``.

    Returns ``(index, found)``: (M, top) indices (in no particular order when ``top > 1``) and
    (M,) bool, whether any valid row exists.
    """
    num_queries = query_dirs.shape[0]
    best_sim = query_dirs.new_full((num_queries, top), float('-inf'))
    best_idx = torch.zeros(num_queries, top, dtype=torch.long, device=query_dirs.device)
    queries = query_dirs.to(dtype)
    for start in range(0, bank.shape[0], chunk):
        bank_dirs = F.normalize(bank[start:start + chunk].float(), dim=-1).to(dtype)
        sim = queries @ bank_dirs.T  # (M, chunk) cosine similarities
        sim.masked_fill_(~bank_valid[start:start + chunk], float('-inf'))
        if top == 1:
            value, index = sim.max(dim=1, keepdim=True)
            better = value.float() > best_sim
            best_sim = torch.where(better, value.float(), best_sim)
            best_idx = torch.where(better, index + start, best_idx)
        else:  # merge this chunk's best with the running best
            value, index = sim.topk(min(top, sim.shape[1]), dim=1)
            merged_sim = torch.cat([best_sim, value.float()], dim=1)
            merged_idx = torch.cat([best_idx, index + start], dim=1)
            best_sim, pick = merged_sim.topk(top, dim=1)
            best_idx = merged_idx.gather(1, pick)
    return best_idx, best_sim.amax(dim=1) > float('-inf')


@torch.no_grad()
def cycle_consistent(neighbours_other_view: Tensor, current_other_view: Tensor,
                     query_index: Optional[Tensor] = None) -> Tensor:
    """Whether each neighbour, seen in the other view, maps back to its own query.

    Query m (view v) retrieved a queue entry; that entry's token in the other view w must have
    current object m of view w as its nearest (cosine) current object token (CrIBo, Lebailly et
    al. 2024, Sec. 3.3).

    Args:
        neighbours_other_view (Tensor): (M, D) the retrieved queue entries' view-w tokens.
        current_other_view (Tensor): (C, D) the candidate current objects' view-w tokens.
        query_index (Tensor, optional): (M,) row of ``current_other_view`` that is query m's
            own object. Defaults to ``arange(M)`` (then C must equal M).

    Returns:
        Tensor: (M,) bool, True where the cycle returns to the query.
    """
    num = neighbours_other_view.shape[0]
    if query_index is None:
        if neighbours_other_view.shape != current_other_view.shape:
            raise ValueError('neighbours_other_view and current_other_view must have the same '
                             f'(M, D) shape, got {tuple(neighbours_other_view.shape)} and '
                             f'{tuple(current_other_view.shape)}')
        query_index = torch.arange(num, device=current_other_view.device)
    back, found = nearest_neighbours(
        neighbours_other_view, current_other_view,
        torch.ones(current_other_view.shape[0], dtype=torch.bool,
                   device=current_other_view.device))
    return found & (back == query_index)


def _all_gather_rows(*tensors: Tensor) -> Tuple[List[Tensor], int]:
    """Concatenate every rank's rows in rank order; ranks may hold different row counts.

    Returns the gathered tensors and the offset of this rank's first row in them (the
    tensors themselves and 0 when not distributed).
    """
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return list(tensors), 0
    world_size, rank = dist.get_world_size(), dist.get_rank()
    rows = tensors[0].shape[0]
    size = torch.tensor([rows], device=tensors[0].device)
    sizes = [torch.zeros_like(size) for _ in range(world_size)]
    dist.all_gather(sizes, size)
    sizes = [int(s) for s in sizes]
    gathered = []
    for tensor in tensors:
        is_bool = tensor.dtype == torch.bool
        # uint8, not bool: the gloo backend cannot all-gather bool tensors.
        padded = tensor.to(torch.uint8) if is_bool else tensor
        pad = max(sizes) - rows
        if pad:
            padded = torch.cat([padded, padded.new_zeros((pad, *padded.shape[1:]))])
        parts = [torch.empty_like(padded) for _ in range(world_size)]
        dist.all_gather(parts, padded.contiguous())
        joined = torch.cat([part[:s] for part, s in zip(parts, sizes)])
        gathered.append(joined.bool() if is_bool else joined)
    return gathered, sum(sizes[:rank])


class CrossImageQueue(nn.Module):
    """FIFO of the teacher object tokens of the last ``queue_size`` images of all ranks.

    Storage is per image: ``tokens[:, slot]`` holds the k object tokens of one image in each of
    its V views (backbone space, before the head, un-normalised; view-major so that one view's
    tokens are a contiguous (Q·k, D) block for the search) and ``valid[slot]`` says which
    of the k clusters were non-empty in all views — images contribute a variable number of
    objects, and empty slots (queue not yet full) are simply invalid. ``ptr`` is the slot the
    next image goes to. All state is in buffers, so it is checkpointed and survives resume.

    Use per training step, in this order (retrieve, then enqueue — the current batch never
    retrieves itself):

    1. :meth:`retrieve` with the current (valid) teacher object tokens of this rank
       (collective when distributed: the cycle candidates are all-gathered);
    2. :meth:`enqueue` with the current teacher object tokens of this rank (all-gathered here,
       so every rank holds the same queue).

    Retrieval (CrIBo): for direction v, the query is object m's view-v token; its neighbour is
    the most cosine-similar valid queue token of view v. The pair is kept only if it is
    cycle-consistent: that queue entry's token in the other view w = (v + 1) mod V must have
    object m's view-w token as its nearest neighbour among the **current objects of the
    global batch** (all ranks, all-gathered). This makes the result independent of how the
    batch is split over GPUs: a 2-process run equals a 1-process run with the same global
    batch. (CrIBo's code searches the local batch only.)

    Memory: S3PT (queue 2,500, k = 128, ViT-S D = 384, V = 2) stores 983 MB in fp32.

    Args:
        queue_size (int): number of images kept (2,500 for S3PT, 25,000 for CrIBo).
        num_objects (int): k, object slots per image.
        embed_dims (int): D, backbone channels.
        num_views (int): V, views per image. Defaults to 2.
        max_chunk_elements (int): bound on the similarity matrix size during retrieval.
            Defaults to 2**27.
        search (str): how the queue is searched, see :func:`nearest_neighbours`: ``'auto'``
            (bf16 shortlist + exact fp32 re-ranking on CUDA, exact fp32 elsewhere),
            ``'exact'`` or ``'bf16_rerank'``. The cycle-consistency check is always exact.
            Defaults to ``'auto'``.
        candidates (int): shortlist length per query for ``'bf16_rerank'``. Defaults to 16.
    """

    def __init__(self, queue_size: int, num_objects: int, embed_dims: int, num_views: int = 2,
                 max_chunk_elements: int = 2**27, search: str = 'auto',
                 candidates: int = 16) -> None:
        super().__init__()
        if min(queue_size, num_objects, embed_dims) < 1:
            raise ValueError('queue_size, num_objects and embed_dims must be >= 1, got '
                             f'{queue_size}, {num_objects}, {embed_dims}')
        if num_views < 2:
            raise ValueError(f'cycle-consistency needs num_views >= 2, got {num_views}')
        self.queue_size = queue_size
        self.num_objects = num_objects
        self.embed_dims = embed_dims
        self.num_views = num_views
        self.max_chunk_elements = max_chunk_elements
        resolve_search(search, 'cpu')  # validates the name
        if candidates < 1:
            raise ValueError(f'candidates must be >= 1, got {candidates}')
        self.search = search
        self.candidates = candidates
        self.register_buffer('tokens', torch.zeros(num_views, queue_size, num_objects, embed_dims))
        self.register_buffer('valid', torch.zeros(queue_size, num_objects, dtype=torch.bool))
        self.register_buffer('ptr', torch.zeros((), dtype=torch.long))
        self.register_buffer('num_enqueued', torch.zeros((), dtype=torch.long))

    @property
    def is_full(self) -> bool:
        """Whether ``queue_size`` images have been enqueued since the start."""
        return bool(self.num_enqueued >= self.queue_size)

    @torch.no_grad()
    def retrieve(self, objects: Tensor) -> CrossImageMatch:
        """Nearest queue neighbour of every current object token, with cycle-consistency.

        Args:
            objects (Tensor): (V, M) + (D,) = (V, M, D) teacher object tokens of this rank's
                batch, only the valid ones, row m of every view being the same object.

        Returns:
            CrossImageMatch: neighbours (V, M, D), indices (V, M), consistent (V, M).
        """
        if objects.dim() != 3 or objects.shape[0] != self.num_views or \
                objects.shape[2] != self.embed_dims:
            raise ValueError(f'objects must be (V={self.num_views}, M, D={self.embed_dims}), '
                             f'got shape {tuple(objects.shape)}')
        flat_valid = self.valid.reshape(-1)  # (Q * k,)
        # Cycle candidates: the current objects of every rank, (V, M_all, D), and where this
        # rank's own objects sit among them.
        (gathered, ), offset = _all_gather_rows(objects.transpose(0, 1))
        candidates = gathered.transpose(0, 1)
        query_index = offset + torch.arange(objects.shape[1], device=objects.device)
        neighbours, indices, consistent = [], [], []
        for view in range(self.num_views):
            other = (view + 1) % self.num_views
            bank = self.tokens[view].view(-1, self.embed_dims)  # (Q * k, D), no copy
            index, found = nearest_neighbours(objects[view], bank, flat_valid,
                                              self.max_chunk_elements, self.search,
                                              self.candidates)
            other_bank = self.tokens[other].view(-1, self.embed_dims)
            cycle = cycle_consistent(other_bank[index], candidates[other], query_index)
            neighbours.append(bank[index])
            indices.append(index)
            consistent.append(found & cycle)
        return CrossImageMatch(torch.stack(neighbours).to(objects.dtype), torch.stack(indices),
                               torch.stack(consistent))

    @torch.no_grad()
    def enqueue(self, objects: Tensor, valid: Tensor) -> None:
        """Append the images of all ranks, overwriting the oldest ones (FIFO).

        Collective when distributed: every rank must call it once per step. Images are written
        in rank order (rank 0's batch first); if more than ``queue_size`` images arrive at
        once, only the last ``queue_size`` are kept.

        Args:
            objects (Tensor): (B, V, k, D) this rank's teacher object tokens (all k clusters).
            valid (Tensor): (B, k) bool, clusters non-empty in all views.
        """
        expected = (self.num_views, self.num_objects, self.embed_dims)
        if objects.dim() != 4 or tuple(objects.shape[1:]) != expected:
            raise ValueError(f'objects must be (B, {expected[0]}, {expected[1]}, {expected[2]}), '
                             f'got shape {tuple(objects.shape)}')
        if valid.shape != (objects.shape[0], self.num_objects):
            raise ValueError(f'valid must be ({objects.shape[0]}, {self.num_objects}), '
                             f'got shape {tuple(valid.shape)}')
        (objects, valid), _ = _all_gather_rows(objects.detach().to(self.tokens.dtype),
                                               valid.bool())
        num_new = objects.shape[0]
        # Slot of every incoming image as if written one after another; with more images than
        # slots only the last `queue_size` ones survive, so keep those (unique slots).
        slots = (self.ptr + torch.arange(num_new, device=self.ptr.device)) % self.queue_size
        keep = slice(max(0, num_new - self.queue_size), num_new)
        self.tokens[:, slots[keep]] = objects[keep].transpose(0, 1)
        self.valid[slots[keep]] = valid[keep]
        self.ptr.copy_((self.ptr + num_new) % self.queue_size)
        self.num_enqueued.add_(num_new)

    def extra_repr(self) -> str:
        return (f'queue_size={self.queue_size}, num_objects={self.num_objects}, '
                f'embed_dims={self.embed_dims}, num_views={self.num_views}, '
                f'search={self.search!r}, candidates={self.candidates}')
