# One reader of the clevr-rel-v1 view (engine/prior/prompt.go, ClevrRelative) for the
# probes in this folder (knn.py, mlp.py): the instruction's relation, the named balls and
# every ball's position in whole centimetres, signed (x right, y forward).
import re

BALLS = ['red', 'blue', 'green', 'purple', 'cyan']
LABELS = 'ABCDEFGH'  # the direction answers, in the template's order
RELS = ['left', 'right', 'front', 'behind']
_SYNONYM = {'ahead': 'front', 'back': 'behind'}


def relation(task):
    """The index in RELS of the relation the instruction asks for."""
    k = [w for w in ('left', 'right', 'front', 'ahead', 'back', 'behind') if w in task][0]
    return RELS.index(_SYNONYM.get(k, k))


def parse(text):
    """(relation index, {ball: (x, y)}, first-named ball, second-named ball) of a view:
    line 0 the instruction, line 1 the balls ('red 10 right 6 backward, ...')."""
    lines = text.split('\n')
    pos = {b: (int(a) * (1 if d1 == 'right' else -1), int(c) * (1 if d2 == 'forward' else -1))
           for b, a, d1, c, d2 in re.findall(r'(\w+) (\d+) (\w+) (\d+) (\w+)', lines[1])}
    src, dst = re.findall(r'\b(red|blue|green|purple|cyan)\b', lines[0])[:2]
    return relation(lines[0]), pos, src, dst


def pushed_ball(prompt):
    """The ball a direction question of the template asks about."""
    return re.search(r'Push (\w+)\. Direction', prompt).group(1)


def pair_offset(text):
    """The view's own offset line ('blue from red: 56 left 42 forward.'), rounded from
    the exact positions (so it may differ by 1 cm from a difference of rounded ones):
    (later ball, earlier ball, dx, dy), or None when the view has no such line."""
    lines = text.split('\n')
    m = re.match(r'(\w+) from (\w+): (\d+) (\w+) (\d+) (\w+)\.', lines[2]) if len(lines) > 2 else None
    if not m:
        return None
    dx = int(m.group(3)) * (1 if m.group(4) == 'right' else -1)
    dy = int(m.group(5)) * (1 if m.group(6) == 'forward' else -1)
    return m.group(1), m.group(2), dx, dy
