"""The AVA v2.2 action vocabulary and its pbtxt label-map files.

AVA v2.2 trains on 80 action classes (ids 1..80) and evaluates 60 of them: the ActivityNet
2019 label map ``ava_action_list_v2.2_for_activitynet_2019.pbtxt`` lists only those 60. The
names and the excluded ids below are the official ones; the generated dataset writes both
files in the official text format::

    item {
      name: "bend/bow (at the waist)"
      id: 1
    }

``read_label_map`` is the one reader of that format, for training and evaluation alike (and
``model.eval.ava_io.read_labelmap`` is it): the official ActivityNet semantics, errors naming the
file and line (:class:`~model.data.errors.AvaInputError`).
"""

from __future__ import annotations

import re
from pathlib import Path

from contract.files import atomic_write_text
from model.data.errors import AvaInputError

__all__ = [
    "AVA_ACTION_NAMES", "AVA_EVALUATED_IDS", "AVA_EVALUATED_LABEL_MAP_FILE", "AVA_LABEL_MAP_FILE",
    "AVA_NUM_CLASSES", "read_label_map", "write_label_map", "label_type",
]

AVA_NUM_CLASSES = 80
#: The 80 trained classes, with their ``label_type`` lines.
AVA_LABEL_MAP_FILE = "ava_action_list_v2.2.pbtxt"
#: The 60 classes the ActivityNet 2019 evaluation scores: the label map of evaluation and export.
AVA_EVALUATED_LABEL_MAP_FILE = "ava_action_list_v2.2_for_activitynet_2019.pbtxt"

AVA_ACTION_NAMES: dict[int, str] = dict(enumerate([
    "bend/bow (at the waist)", "crawl", "crouch/kneel", "dance", "fall down", "get up",
    "jump/leap", "lie/sleep", "martial art", "run/jog", "sit", "stand", "swim", "walk",
    "answer phone", "brush teeth", "carry/hold (an object)", "catch (an object)", "chop",
    "climb (e.g., a mountain)", "clink glass", "close (e.g., a door, a box)", "cook", "cut",
    "dig", "dress/put on clothing", "drink", "drive (e.g., a car, a truck)", "eat", "enter",
    "exit", "extract", "fishing", "hit (an object)", "kick (an object)", "lift/pick up",
    "listen (e.g., to music)", "open (e.g., a window, a car door)", "paint",
    "play board game", "play musical instrument", "play with pets", "point to (an object)",
    "press", "pull (an object)", "push (an object)", "put down", "read",
    "ride (e.g., a bike, a car, a horse)", "row boat", "sail boat", "shoot", "shovel",
    "smoke", "stir", "take a photo", "text on/look at a cellphone", "throw",
    "touch (an object)", "turn (e.g., a screwdriver)", "watch (e.g., TV)",
    "work on a computer", "write", "fight/hit (a person)",
    "give/serve (an object) to (a person)", "grab (a person)", "hand clap", "hand shake",
    "hand wave", "hug (a person)", "kick (a person)", "kiss (a person)", "lift (a person)",
    "listen to (a person)", "play with kids", "push (another person)",
    "sing to (e.g., self, a person, a group)", "take (an object) from (a person)",
    "talk to (e.g., self, a person, a group)", "watch (a person)",
], start=1))

#: The 20 rare classes the ActivityNet 2019 evaluation leaves out.
_NOT_EVALUATED = {2, 16, 18, 19, 21, 23, 25, 31, 32, 33, 35, 39, 40, 42, 44, 50, 53, 55, 71, 75}
AVA_EVALUATED_IDS: tuple[int, ...] = tuple(i for i in AVA_ACTION_NAMES if i not in _NOT_EVALUATED)


def label_type(action_id: int) -> str:
    """The official grouping: person movement (1-14), object manipulation, interaction."""
    if action_id <= 14:
        return "PERSON_MOVEMENT"
    if action_id <= 63:
        return "OBJECT_MANIPULATION"
    return "PERSON_INTERACTION"


def write_label_map(path: str | Path, ids: tuple[int, ...] | list[int], *,
                    with_label_type: bool = False) -> Path:
    """Write the pbtxt label map for ``ids`` (official names) atomically."""
    items = []
    for action_id in ids:
        lines = [f'  name: "{AVA_ACTION_NAMES[action_id]}"', f"  id: {action_id}"]
        if with_label_type:
            lines.append(f"  label_type: {label_type(action_id)}")
        items.append("item {\n" + "\n".join(lines) + "\n}\n")
    return atomic_write_text(path, "".join(items))


_NAME = re.compile(r'^(?P<key>display_name|name)\s*:\s*"(?P<name>[^"]*)"')
_ID = re.compile(r"^(?:label_)?id\s*:\s*(?P<id>\S+)$")
_IGNORED = re.compile(r"^label_type\s*:")


def read_label_map(path: str | Path, *, expected_classes: int | None = None) -> dict[int, str]:
    """Parse a pbtxt label map into ``{id: name}`` (ordered as in the file).

    The official semantics (ActivityNet ``get_ava_performance.read_labelmap``): an ``id`` (or
    ``label_id``) line closes an entry with the last ``name`` seen; ``display_name`` and
    ``label_type`` lines are ignored. Stricter than the official reader, which skips or
    crashes on them: a line it cannot place, an id that is not an integer or appears twice, an
    id without a name before it, an unbalanced ``item { }`` and an empty map are an
    :class:`AvaInputError` naming the line. ``expected_classes`` (60 for the evaluated AVA v2.x
    map) guards against evaluating with the wrong file; ``None`` accepts any size.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise AvaInputError(path, None, "label map not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AvaInputError(path, None, f"cannot read label map: {exc}") from exc
    labels: dict[int, str] = {}
    name: str | None = None
    opened_at = 0
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#") or _IGNORED.match(line):
            continue
        if line.startswith("item") and line[4:].replace(" ", "") == "{":
            if opened_at:
                raise AvaInputError(path, number, "'item {' inside another item")
            opened_at = number
        elif line == "}":
            if not opened_at:
                raise AvaInputError(path, number, "'}' without 'item {'")
            opened_at = 0
        elif m := _NAME.match(line):
            if m.group("key") == "name":
                name = m.group("name")
        elif m := _ID.match(line):
            try:
                class_id = int(m.group("id"))
            except ValueError:
                raise AvaInputError(path, number, f"label id {m.group('id')!r} is not an integer",
                                    field="id") from None
            if name is None:
                raise AvaInputError(path, number, f"label id {class_id} has no name before it", field="id")
            if class_id in labels:
                raise AvaInputError(path, number, f"label id {class_id} appears twice", field="id")
            labels[class_id] = name
            name = None
        else:
            raise AvaInputError(path, number, f"cannot parse {raw!r}")
    if opened_at:
        raise AvaInputError(path, opened_at, "unterminated item")
    if not labels:
        raise AvaInputError(path, None, "label map has no entries")
    if expected_classes is not None and len(labels) != expected_classes:
        raise AvaInputError(path, None, f"label map has {len(labels)} entries, expected {expected_classes}")
    return labels
