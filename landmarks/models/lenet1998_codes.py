"""The fixed +-1 parameters of LeNet-5's ten Euclidean RBF output units (LeCun et al. 1998, Section
II-B and Fig. 3): "a stylized image of the corresponding character class drawn on a 7x12 bitmap
(hence the number 84)", one bitmap per digit, '#' = +1 and '.' = -1, read row by row.

Assumption: the paper prints its 7x12 bitmaps only as a small figure (Fig. 3, the whole printable
ASCII set); these ten are drawn here in the same style (a 7x9 glyph on rows 2-10 of 12, the lower
rows left blank for descenders) and are not copied pixel for pixel from the figure. What the
paper's argument needs holds for them: every code is +-1, and codes of different digits are far
apart (at least 10 of the 84 pixels differ; `tests/test_lenet1998.py`).

    python -c "from landmarks.models.lenet1998_codes import rbf_codes; print(rbf_codes().shape)"
"""

from __future__ import annotations

import torch

WIDTH, HEIGHT = 7, 12

# the ten bitmaps side by side, digit 0 on the left; one row of every digit per line
BITMAPS = """
....... ....... ....... ....... ....... ....... ....... ....... ....... .......
..###.. ...#... .#####. ####### ....#.. ####### ...###. ####### .#####. .#####.
.#...#. ..##... #.....# .....#. ...##.. #...... ..#.... ......# #.....# #.....#
#.....# .#.#... ......# ....#.. ..#.#.. #...... .#..... .....#. #.....# #.....#
#.....# ...#... .....#. ...##.. .#..#.. ######. #.####. ....#.. .#...#. #.....#
#.....# ...#... ....#.. .....#. #...#.. ......# ##....# ...#... ..###.. .######
#.....# ...#... ...#... ......# ####### ......# #.....# ..#.... .#...#. ......#
#.....# ...#... ..#.... ......# ....#.. ......# #.....# ..#.... #.....# ......#
.#...#. ...#... .#..... #.....# ....#.. #.....# #.....# ..#.... #.....# .....#.
..###.. .#####. ####### .#####. ....#.. .#####. .#####. ..#.... .#####. .####..
....... ....... ....... ....... ....... ....... ....... ....... ....... .......
....... ....... ....... ....... ....... ....... ....... ....... ....... .......
"""


def rbf_codes() -> torch.Tensor:
    """(10, 84) tensor of +-1: row d is digit d's bitmap, flattened row by row."""
    rows = [line.split() for line in BITMAPS.strip("\n").splitlines()]
    if len(rows) != HEIGHT or any(len(r) != 10 or any(len(c) != WIDTH for c in r) for r in rows):
        raise ValueError(f"each of the {HEIGHT} lines must hold ten {WIDTH}-character rows")
    bits = [[ch == "#" for row in rows for ch in row[digit]] for digit in range(10)]
    return torch.tensor(bits, dtype=torch.float32) * 2 - 1
