"""Classification datasets over three layouts: a video list, class folders, and HDF5 arrays.

- :class:`VideoListDataset`: MMAction2's ``train_list.txt``, one ``path label`` per line (``path l1 l2 ...``
  when multi-label); the label is the last field, so paths may hold spaces. ``separator`` (e.g. ``","``)
  splits fields exactly instead. Blank lines and ``#`` comments are skipped; bad lines are reported together
  with ``file:line``.
- :class:`ClassFolderDataset`: ``root/<class>/<video>``; classes are the sorted sub-folder names, the index
  is written to ``class_index.txt`` (``index name`` per line, MMAction2's form).
- :class:`HDF5ClipDataset`: frames ``[N, T, H, W]`` or ``[N, T, H, W, C]`` (C 1 or 3) and labels ``[N]`` (or
  multi-hot ``[N, K]``) under configurable keys; 1-channel data is repeated to 3 channels; non-uint8 data is
  mapped to 0-255 from ``value_range`` (or each sample's min / max).
Videos are decoded with PyAV (any container it reads: mp4, avi, mkv, webm, ...).
"""

from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np

from ...utils.errors import UserError
from ...utils.io import atomic_write_text
from ..video_io import display_rgb, resample_by_time
from .clips import ClipClassificationDataset, ClipViewTransform

logger = logging.getLogger(__name__)

__all__ = [
    "VIDEO_EXTENSIONS",
    "parse_video_list",
    "read_class_index",
    "write_class_index",
    "index_class_folders",
    "read_video",
    "SparseVideo",
    "VideoListDataset",
    "ClassFolderDataset",
    "HDF5ClipDataset",
]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg")


class VideoReadError(UserError, RuntimeError):
    """A video PyAV cannot open or that holds no frame; the message names the file."""


def read_video(path: str) -> np.ndarray:
    """All frames of ``path`` as uint8 RGB ``[N, H, W, 3]`` (display rotation applied). For long videos use
    :class:`SparseVideo`, which decodes the same frames but keeps only those asked for."""
    import av  # lazy: HDF5-only users never need it

    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = [display_rgb(f) for f in container.decode(stream)]  # display rotation applied
    except (av.error.FFmpegError, IndexError, OSError) as e:
        raise VideoReadError(f"{path}: cannot decode the video ({e})") from e
    if not frames:
        raise VideoReadError(f"{path}: no video frames")
    return np.stack(frames)


class SparseVideo:
    """A video file as frames ``[N, H, W, 3]`` of which only the ones taken are kept: :meth:`take` decodes the
    file once and converts and keeps just the requested indices, so memory holds a clip, not the video.

    ``shape`` is known up front: ``N`` from the container's packets (one per frame; no decoding), ``H, W`` from
    the first frame (display rotation applied). When decoding finds another frame count (a damaged file), ``N``
    is corrected and indices past the real end get the last frame, as :func:`read_video` plus the samplers'
    end padding would give.

    ``fps > 0`` (``INPUT.CLIP_FPS``) shows the video resampled by time to that rate instead: frame ``k`` is the
    source frame nearest to ``k / fps`` s (:func:`~alphaction.data.video_io.resample_by_time`, the rule of the
    detection clips), from the packets' timestamps, so a 50 fps and a 25 fps recording of one scene give the
    same clip. ``fps = 0`` indexes the source frames as they are (MMAction2's and PySlowFast's sampling).
    """

    def __init__(self, path: str, fps: float = 0) -> None:
        import av

        self.path, self.fps = path, fps
        self.source_index: list[int] | None = None  # output frame -> source frame (display order), when fps > 0
        try:
            with av.open(path) as container:
                stream = container.streams.video[0]
                pts = [packet.pts for packet in container.demux(stream) if packet.size]
                base = float(stream.time_base) if stream.time_base else 0.0
                start = float(stream.start_time * base) if stream.start_time is not None else 0.0
                rate = float(stream.average_rate or stream.guessed_rate or 25)
            with av.open(path) as container:
                first = next(container.decode(video=0), None)
                if first is None:
                    raise VideoReadError(f"{path}: no video frames")
                h, w = display_rgb(first).shape[:2]
        except (av.error.FFmpegError, IndexError, OSError) as e:
            raise VideoReadError(f"{path}: cannot decode the video ({e})") from e
        count = len(pts)
        if fps and count:
            if any(p is None for p in pts) or not base:
                raise VideoReadError(
                    f"{path}: the container gives no frame timestamps, so INPUT.CLIP_FPS "
                    f"{fps:g} cannot resample it by time; set INPUT.CLIP_FPS 0 or re-encode it"
                )
            times = sorted(p * base - start for p in pts)  # display order
            timed = ((t, i, 1.0 / rate) for i, t in enumerate(times))
            self.source_index = [i for _, i in resample_by_time(timed, fps)]
            count = len(self.source_index)
        self.shape = (max(count, 1), h, w, 3)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, indices) -> np.ndarray:
        if isinstance(indices, (int, np.integer)):
            return self.take([int(indices)])[0]
        return self.take(np.arange(self.shape[0])[indices] if isinstance(indices, slice) else indices)

    def take(self, indices: Sequence[int]) -> np.ndarray:
        """uint8 RGB frames ``[len(indices), H, W, 3]`` at ``indices`` (in any order, repeats allowed)."""
        import av

        if self.source_index is not None:  # output frames at INPUT.CLIP_FPS -> source frames
            last_out = len(self.source_index) - 1
            indices = [self.source_index[min(int(i), last_out)] for i in indices]
        wanted = {int(i) for i in indices}
        if any(i < 0 for i in wanted):
            raise IndexError(f"negative frame index in {sorted(wanted)[:3]}")
        last_needed = max(wanted) if wanted else -1
        kept, count, last = {}, 0, None
        try:
            with av.open(self.path) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for n, frame in enumerate(container.decode(stream)):
                    count, last = n + 1, frame
                    if n in wanted:
                        kept[n] = display_rgb(frame)
                    if n >= last_needed:
                        break  # the frames after the last one needed are never decoded
                if last is None:
                    raise VideoReadError(f"{self.path}: no video frames")
                if count <= last_needed:  # fewer frames than packets: the end repeats the last one
                    logger.debug("%s: %d packets but %d decoded frames", self.path, self.shape[0], count)
                    if self.source_index is None:
                        self.shape = (count,) + self.shape[1:]
                    end = display_rgb(last)
                    kept.update({i: end for i in wanted - kept.keys()})
        except (av.error.FFmpegError, OSError) as e:
            raise VideoReadError(f"{self.path}: cannot decode the video ({e})") from e
        return np.stack([kept[int(i)] for i in indices])


def listed_errors(errors: Sequence[str], header: str) -> ValueError:
    """One error for every problem found: ``header``, then the first 20 ``errors`` a line each and how many more."""
    shown = "\n  ".join(errors[:20])
    more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
    return ValueError(f"{header}:\n  {shown}{more}")


def parse_video_list(path: str, separator: str = "", multi_label: bool = False) -> list[tuple[str, list[int]]]:
    """``[(video_path, [labels])]`` of a list file, in file order.

    Raises:
        ValueError: listing every bad line as ``file:line: problem``.
    """
    entries, errors = [], []
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if separator:
                fields = [p.strip() for p in line.split(separator)]
                video, label_fields = fields[0], fields[1:]
            else:
                tokens = line.split()
                keep = len(tokens) - 1
                if multi_label:  # trailing integer tokens are labels; the rest (spaces kept) is the path
                    while keep > 1 and tokens[keep - 1].lstrip("-").isdigit():
                        keep -= 1
                label_fields = tokens[keep:]
                rest = line.strip()
                for _ in label_fields:
                    rest = rest.rsplit(None, 1)[0] if len(rest.split()) > 1 else ""
                video = rest
            try:
                labels = [int(v) for v in label_fields]
            except ValueError:
                labels = []
            if not video or not labels or (len(labels) > 1 and not multi_label):
                errors.append(
                    f"{path}:{number}: expected 'path{separator or ' '}label'"
                    f"{' (labels: one or more integers)' if multi_label else ''}, got {line!r}"
                )
                continue
            entries.append((video, labels))
    if errors:
        raise listed_errors(errors, f"{len(errors)} bad line(s) in the video list {path}")
    return entries


def read_class_index(path: str) -> list[str]:
    """Class names of a ``class_index.txt`` (``index name`` per line, indices 0..K-1 in any order)."""
    names: dict[int, str] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            idx, _, name = line.strip().partition(" ")
            if not idx.isdigit():
                raise ValueError(f"{path}:{number}: expected 'index name', got {line.strip()!r}")
            names[int(idx)] = name.strip() or idx
    if sorted(names) != list(range(len(names))):
        raise ValueError(f"{path}: class indices must be 0..{len(names) - 1} without gaps")
    return [names[i] for i in range(len(names))]


def optional_class_index(path: str) -> list[str] | None:
    """:func:`read_class_index` of ``path`` when it names an existing file, else None."""
    return read_class_index(path) if path and os.path.isfile(path) else None


def write_class_index(path: str, names: Sequence[str]) -> None:
    text = "".join(f"{i} {n}\n" for i, n in enumerate(names))
    if os.path.isfile(path) and open(path, encoding="utf-8").read() == text:
        return
    try:
        atomic_write_text(path, text)
    except OSError as e:
        logger.warning("could not write the class index %s (%s); classes: %s", path, e, list(names))


def index_class_folders(
    root: str, extensions: Sequence[str] = VIDEO_EXTENSIONS
) -> tuple[list[str], list[tuple[str, int]]]:
    """``(class_names, [(video_path, label)])`` of ``root/<class>/<video>``: classes are the sorted sub-folders,
    videos sorted within each; files of other extensions are ignored."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"class-folder dataset: folder not found: {root}")
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    if not classes:
        raise ValueError(f"{root}: no class sub-folders (expected {root}/<class>/<video>)")
    exts = tuple(e.lower() for e in extensions)
    samples = []
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        videos = sorted(v for v in os.listdir(folder) if v.lower().endswith(exts))
        if not videos:
            logger.warning("%s: class folder %r holds no video (%s)", root, name, ", ".join(exts))
        samples += [(os.path.join(folder, v), label) for v in videos]
    return classes, samples


class _VideoFiles(ClipClassificationDataset):
    def __init__(
        self,
        videos: list[str],
        labels: list,
        transforms: ClipViewTransform,
        num_classes: int,
        multi_label: bool,
        class_names: Sequence[str] | None,
        name: str,
    ) -> None:
        super().__init__(transforms, num_classes, multi_label, class_names, name)
        self.videos, self.labels = videos, labels
        self.check_labels()

    def __len__(self) -> int:
        return len(self.videos)

    def sample_id(self, index: int) -> str:
        return self.videos[index]

    def read_frames(self, index: int) -> np.ndarray:
        return read_video(self.videos[index])

    def frame_source(self, index: int) -> SparseVideo:
        # decoded once by the transform, keeping the sampled frames; at INPUT.CLIP_FPS when it is set
        return SparseVideo(self.videos[index], fps=getattr(self.transforms, "clip_fps", 0))


class VideoListDataset(_VideoFiles):
    """Videos of a list file; relative paths are joined to ``video_root`` (default: the list's folder)."""

    def __init__(
        self,
        ann_file: str,
        transforms: ClipViewTransform,
        num_classes: int,
        video_root: str = "",
        separator: str = "",
        multi_label: bool = False,
        class_index: str = "",
        name: str = "",
    ) -> None:
        entries = parse_video_list(ann_file, separator, multi_label)
        root = video_root or os.path.dirname(os.path.abspath(ann_file))
        videos = [v if os.path.isabs(v) else os.path.join(root, v) for v, _ in entries]
        labels = [labs if multi_label else labs[0] for _, labs in entries]
        names = optional_class_index(class_index)
        super().__init__(videos, labels, transforms, num_classes, multi_label, names, name or ann_file)


class ClassFolderDataset(_VideoFiles):
    """``video_root/<class>/<video>``; writes the class index to ``class_index`` (default
    ``video_root/class_index.txt``)."""

    def __init__(
        self,
        video_root: str,
        transforms: ClipViewTransform,
        num_classes: int,
        class_index: str = "",
        extensions: Sequence[str] = VIDEO_EXTENSIONS,
        multi_label: bool = False,
        name: str = "",
    ) -> None:
        if multi_label:
            raise ValueError(f"{video_root}: class folders give one label per video; MULTI_LABEL must be False")
        classes, samples = index_class_folders(video_root, extensions)
        write_class_index(class_index or os.path.join(video_root, "class_index.txt"), classes)
        super().__init__(
            [v for v, _ in samples],
            [lab for _, lab in samples],
            transforms,
            num_classes,
            False,
            classes,
            name or video_root,
        )


class LazyH5File:
    """Mixin for a dataset reading ``self.h5_file``: the h5py handle is opened on first use in each process
    (handles must not cross a fork into the loader workers) and is never pickled."""

    h5_file: str
    _file = None
    _file_pid: int | None = None

    def _h5(self):
        import h5py

        if self._file_pid != os.getpid():
            self._file, self._file_pid = h5py.File(self.h5_file, "r"), os.getpid()
        return self._file

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_file"], state["_file_pid"] = None, None
        return state


class HDF5ClipDataset(LazyH5File, ClipClassificationDataset):
    """Samples of an HDF5 file: ``frames_key`` ``[N, T, H, W]`` / ``[N, T, H, W, C]``, ``labels_key`` ``[N]``
    (or ``[N, K]`` multi-hot). The file is opened lazily in each worker process."""

    def __init__(
        self,
        h5_file: str,
        transforms: ClipViewTransform,
        num_classes: int,
        frames_key: str = "frames",
        labels_key: str = "labels",
        value_range: Sequence[float] | None = None,
        multi_label: bool = False,
        class_index: str = "",
        name: str = "",
    ) -> None:
        import h5py  # lazy: only HDF5 users need it

        names = optional_class_index(class_index)
        super().__init__(transforms, num_classes, multi_label, names, name or h5_file)
        self.h5_file, self.frames_key = h5_file, frames_key
        self.value_range = tuple(float(v) for v in value_range) if value_range else None
        with h5py.File(h5_file, "r") as f:
            for key in (frames_key, labels_key):
                if key not in f:
                    raise KeyError(
                        f"{h5_file}: no dataset {key!r} (keys: {sorted(f.keys())}); set frames_key / "
                        "labels_key in the catalog entry"
                    )
            shape = f[frames_key].shape
            labels = np.asarray(f[labels_key][()])
        if len(shape) not in (4, 5) or (len(shape) == 5 and shape[4] not in (1, 3)):
            raise ValueError(
                f"{h5_file}: {frames_key!r} has shape {shape}; expected [N, T, H, W] or [N, T, H, W, C] with C 1 or 3"
            )
        if labels.shape[0] != shape[0]:
            raise ValueError(f"{h5_file}: {shape[0]} samples in {frames_key!r} but {labels.shape[0]} labels")
        if multi_label:
            if labels.ndim != 2:
                raise ValueError(f"{h5_file}: multi-label needs {labels_key!r} as [N, K] multi-hot")
            self.labels = [np.flatnonzero(row).tolist() for row in labels]
        else:
            self.labels = [int(v) for v in labels.reshape(-1)]
        self.frame_shape = tuple(shape[1:])
        self.check_labels()

    def __len__(self) -> int:
        return len(self.labels)

    def sample_id(self, index: int) -> str:
        return f"{os.path.basename(self.h5_file)}:{index}"

    def read_frames(self, index: int) -> np.ndarray:
        return to_rgb_uint8(np.asarray(self._h5()[self.frames_key][index]), self.value_range)


def to_rgb_uint8(frames: np.ndarray, value_range: Sequence[float] | None = None) -> np.ndarray:
    """``[T, H, W]`` / ``[T, H, W, 1]`` / ``[T, H, W, 3]`` of any dtype -> uint8 ``[T, H, W, 3]``.

    uint8 passes through; other dtypes map ``value_range = (lo, hi)`` (or the sample's min / max) to 0-255.
    """
    if frames.ndim == 4 and frames.shape[-1] == 1:
        frames = frames[..., 0]
    if frames.dtype != np.uint8:
        lo, hi = (float(frames.min()), float(frames.max())) if value_range is None else value_range
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        frames = np.clip((frames.astype(np.float32) - lo) * scale, 0, 255).round().astype(np.uint8)
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    return np.ascontiguousarray(frames)
