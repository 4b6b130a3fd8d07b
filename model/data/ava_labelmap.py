"""The AVA v2.2 action vocabulary and its pbtxt label-map files.

AVA v2.2 trains on 80 action classes (ids 1..80) and evaluates 60 of them: the ActivityNet
2019 label map ``ava_action_list_v2.2_for_activitynet_2019.pbtxt`` lists only those 60. The
names and the excluded ids below are the official ones; the generated dataset writes both
files in the official text format::

    item {
      name: "bend/bow (at the waist)"
      id: 1
    }

``read_label_map`` parses that format (and the ``label_type`` lines of the 80-class file)
with errors naming the line.
"""

from __future__ import annotations

import re
from pathlib import Path

from model.atomic_files import atomic_write_text
from model.data.errors import AnnotationError

__all__ = [
    "AVA_ACTION_NAMES", "AVA_EVALUATED_IDS", "AVA_NUM_CLASSES",
    "read_label_map", "write_label_map", "label_type",
]

AVA_NUM_CLASSES = 80

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


_LINE = re.compile(r'^\s*(name|id|label_id|label_type)\s*:\s*(.+?)\s*$')


def read_label_map(path: str | Path) -> dict[int, str]:
    """Parse a pbtxt label map into ``{id: name}`` (ordered as in the file).

    Accepts ``id`` or ``label_id`` for the id, as the official files of different releases
    do. Raises ``AnnotationError`` with the line for anything else.
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, "label map not found")
    labels: dict[int, str] = {}
    current: dict[str, str] = {}
    opened_at = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("item") and line.rstrip("{ ").strip() == "item":
            if opened_at:
                raise AnnotationError(path, "'item {' inside another item", line=number)
            opened_at, current = number, {}
            continue
        if line == "}":
            if not opened_at:
                raise AnnotationError(path, "'}' without 'item {'", line=number)
            if "id" not in current or "name" not in current:
                raise AnnotationError(path, "item without both name and id", line=opened_at)
            try:
                action_id = int(current["id"])
            except ValueError:
                raise AnnotationError(path, f"id {current['id']!r} is not an integer",
                                      line=opened_at, field="id") from None
            if action_id in labels:
                raise AnnotationError(path, f"duplicate id {action_id}", line=opened_at,
                                      field="id")
            labels[action_id] = current["name"]
            opened_at = 0
            continue
        match = _LINE.match(line)
        if not match or not opened_at:
            raise AnnotationError(path, f"cannot parse {raw!r}", line=number)
        key, value = match.groups()
        key = "id" if key == "label_id" else key
        current[key] = value.strip('"')
    if opened_at:
        raise AnnotationError(path, "unterminated item", line=opened_at)
    if not labels:
        raise AnnotationError(path, "label map has no item")
    return labels
