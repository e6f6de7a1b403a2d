#!/usr/bin/env python3
"""Generate the stimulus images of the exemplar demo experiment.

Every image under ``demo/stimuli/`` is drawn procedurally by this script
(flat colours, geometric shapes, gentle gradients).  Nothing is taken from a
photograph or a third-party data set, so the repository may carry the images
under the project's own licence.

The demo imitates the "which query activates the unit?" paradigm: a synthetic
"unit" is a visual feature, and an image's "activation" is how strongly that
feature is present.  For one batch of one unit the folder holds

    min_0.png .. min_8.png   minimally activating references (min_8 most extreme)
    max_0.png .. max_8.png   maximally activating references (max_8 most extreme)
    min_9.png, max_9.png     the two queries, a little less extreme than the
                             references but still on their side

Layout written (all 224x224 RGB 8-bit PNG, non-interlaced):

    units/<unit>/batch_<b>/{min,max}_{0..9}.png     6 units x 2 batches
    catch/<unit>/batch_0/{min,max}_{0..9}.png       2 obvious catch units
    practice/trial_<k>/{min,max}_{0..9}.png         5 practice trials

The output is deterministic: every image has its own seeded RNG, so rerunning
the script reproduces the same bytes.  Only the Python 3 standard library is
used.  To regenerate (from anywhere):

    python3 scripts/gen_demo_stimuli.py            # writes demo/stimuli/
    python3 scripts/gen_demo_stimuli.py --out DIR  # writes elsewhere

Old output in the ``units/``, ``catch/`` and ``practice/`` subfolders of the
output folder is removed first; nothing else is touched.
"""

import argparse
import math
import os
import random
import shutil
import struct
import zlib

W = H = 224

UNITS = ["stripes_horizontal", "redness", "dots", "checker", "rings", "diagonal"]
CATCH_UNITS = ["catch_bright", "catch_green"]
BATCHES = 2
PRACTICE_TRIALS = 5
SUBDIRS = ("units", "catch", "practice")


# --------------------------------------------------------------------------
# colours
# --------------------------------------------------------------------------

def clamp8(v):
    v = int(round(v))
    return 0 if v < 0 else 255 if v > 255 else v


def rgb(r, g, b):
    return bytes((clamp8(r), clamp8(g), clamp8(b)))


def hsv(h, s, v):
    """h in degrees, s and v in [0, 1] -> 3-byte colour."""
    h = (h % 360.0) / 60.0
    i = int(h)
    f = h - i
    s = min(1.0, max(0.0, s))
    v = min(1.0, max(0.0, v))
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i % 6]
    return rgb(r * 255, g * 255, b * 255)


def mix(c0, c1, t):
    return rgb(*(a + (b - a) * t for a, b in zip(c0, c1)))


def lum(c):
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def muted(rng, vlo=0.35, vhi=0.92, smax=0.4):
    """A calm background colour of any hue."""
    return hsv(rng.uniform(0, 360), rng.uniform(0.05, smax), rng.uniform(vlo, vhi))


def grey(rng, lo=30, hi=225):
    g = rng.randint(lo, hi)
    return rgb(g, g, g)


def contrast_pair(rng, k):
    """Two colours, a dark and a light one, pulled together for small k."""
    h = rng.uniform(0, 360)
    light = hsv(h + rng.uniform(-40, 40), rng.uniform(0.0, 0.45), rng.uniform(0.88, 1.0))
    dark = hsv(h, rng.uniform(0.2, 0.9), rng.uniform(0.05, 0.3))
    mid = mix(light, dark, 0.5)
    return mix(mid, dark, k), mix(mid, light, k)


def lerp(a, b, t):
    return a + (b - a) * t


# --------------------------------------------------------------------------
# rasteriser: a canvas of row bytearrays, shapes as horizontal spans
# --------------------------------------------------------------------------

class Canvas:
    def __init__(self, bg):
        row = bytes(bg) * W
        self.rows = [bytearray(row) for _ in range(H)]

    def fill(self, spans, col):
        rows = self.rows
        for y, a, b in spans:
            if 0 <= y < H:
                a = max(0, a)
                b = min(W, b)
                if b > a:
                    rows[y][3 * a:3 * b] = col * (b - a)

    def pattern(self, spans, rowfn):
        """Fill spans from a pattern; rowfn(y) returns a full 3*W-byte row."""
        rows = self.rows
        cache = {}
        for y, a, b in spans:
            if 0 <= y < H:
                a = max(0, a)
                b = min(W, b)
                if b > a:
                    r = cache.get(y)
                    if r is None:
                        r = cache[y] = rowfn(y)
                    rows[y][3 * a:3 * b] = r[3 * a:3 * b]


def full_spans():
    return [(y, 0, W) for y in range(H)]


def rect_spans(x0, y0, x1, y1):
    x0, x1 = int(round(min(x0, x1))), int(round(max(x0, x1)))
    y0, y1 = int(round(min(y0, y1))), int(round(max(y0, y1)))
    return [(y, x0, x1) for y in range(max(0, y0), min(H, y1))]


def ellipse_spans(cx, cy, rx, ry):
    out = []
    for y in range(max(0, int(cy - ry) - 1), min(H, int(cy + ry) + 2)):
        dy = (y + 0.5 - cy) / ry
        d = 1.0 - dy * dy
        if d <= 0:
            continue
        dx = rx * math.sqrt(d)
        out.append((y, int(round(cx - dx)), int(round(cx + dx))))
    return out


def circle_spans(cx, cy, r):
    return ellipse_spans(cx, cy, r, r)


def polygon_spans(pts):
    ys = [p[1] for p in pts]
    n = len(pts)
    out = []
    for y in range(max(0, int(min(ys)) - 1), min(H, int(max(ys)) + 2)):
        yc = y + 0.5
        xs = []
        for i in range(n):
            xa, ya = pts[i]
            xb, yb = pts[(i + 1) % n]
            if (ya <= yc < yb) or (yb <= yc < ya):
                xs.append(xa + (yc - ya) * (xb - xa) / (yb - ya))
        xs.sort()
        for j in range(0, len(xs) - 1, 2):
            out.append((y, int(round(xs[j])), int(round(xs[j + 1]))))
    return out


def line_spans(x0, y0, x1, y1, w):
    dx, dy = x1 - x0, y1 - y0
    n = math.hypot(dx, dy) or 1.0
    ox, oy = -dy / n * w / 2, dx / n * w / 2
    return polygon_spans([(x0 + ox, y0 + oy), (x1 + ox, y1 + oy),
                          (x1 - ox, y1 - oy), (x0 - ox, y0 - oy)])


def triangle_spans(cx, cy, r, rot):
    return polygon_spans([(cx + r * math.cos(rot + k * 2.0944),
                           cy + r * math.sin(rot + k * 2.0944)) for k in range(3)])


def region(rng, frac):
    """Random patch (rectangle, disc or ellipse) covering about frac of the image."""
    if frac >= 0.97:
        return full_spans(), (W / 2, H / 2, W / 2)
    area = frac * W * H
    kind = rng.choice(("rect", "disc", "ellipse"))
    if kind == "disc":
        r = min(math.sqrt(area / math.pi), 118)
        cx = rng.uniform(min(r, W / 2), max(W - r, W / 2))
        cy = rng.uniform(min(r, H / 2), max(H - r, H / 2))
        return circle_spans(cx, cy, r), (cx, cy, r)
    if kind == "ellipse":
        asp = rng.uniform(0.6, 1.6)
        rx = min(math.sqrt(area / math.pi * asp), 118)
        ry = min(area / math.pi / rx, 118)
        cx = rng.uniform(min(rx, W / 2), max(W - rx, W / 2))
        cy = rng.uniform(min(ry, H / 2), max(H - ry, H / 2))
        return ellipse_spans(cx, cy, rx, ry), (cx, cy, min(rx, ry))
    asp = rng.uniform(0.6, 1.6)
    w = min(math.sqrt(area * asp), W)
    h = min(area / w, H)
    x0 = rng.uniform(0, W - w)
    y0 = rng.uniform(0, H - h)
    return rect_spans(x0, y0, x0 + w, y0 + h), (x0 + w / 2, y0 + h / 2, min(w, h) / 2)


def random_shape_spans(rng, kinds, rmin, rmax):
    kind = rng.choice(kinds)
    r = rng.uniform(rmin, rmax)
    cx, cy = rng.uniform(10, W - 10), rng.uniform(10, H - 10)
    if kind == "disc":
        return circle_spans(cx, cy, r)
    if kind == "ellipse":
        return ellipse_spans(cx, cy, r, r * rng.uniform(0.45, 0.85))
    if kind == "tri":
        return triangle_spans(cx, cy, r * 1.2, rng.uniform(0, 6.3))
    if kind == "square":
        return rect_spans(cx - r, cy - r, cx + r, cy + r)
    if kind == "bar":
        if rng.random() < 0.5:
            return rect_spans(cx - r * 1.6, cy - r * 0.3, cx + r * 1.6, cy + r * 0.3)
        return rect_spans(cx - r * 0.3, cy - r * 1.6, cx + r * 0.3, cy + r * 1.6)
    # rect
    return rect_spans(cx - r, cy - r * rng.uniform(0.4, 1.0),
                      cx + r, cy + r * rng.uniform(0.4, 1.0))


def clutter(c, rng, n, colfn, kinds=("disc", "rect", "tri"), rmin=10, rmax=26):
    for _ in range(n):
        c.fill(random_shape_spans(rng, kinds, rmin, rmax), colfn(rng))


# ------------------------------ patterns -----------------------------------

_XS = list(range(W))


def grating_rows(angle, period, duty, c0, c1, phase=0.0):
    """Square-wave grating. angle 0: horizontal stripes, 90: vertical,
    45: '/' (bottom-left to top-right), 135: '\\'."""
    a = math.radians(angle)
    sx, sy = math.sin(a), math.cos(a)
    xs = [x * sx for x in _XS]
    on = duty * period
    off = phase * period + 1000.0 * period

    def row(y):
        base = y * sy + off
        return b"".join([c1 if (px + base) % period < on else c0 for px in xs])
    return row


def checker_rows(cell, c0, c1, ox=0, oy=0):
    ra = b"".join([c1 if ((x + ox) // cell) % 2 else c0 for x in _XS])
    rb = b"".join([c0 if ((x + ox) // cell) % 2 else c1 for x in _XS])

    def row(y):
        return ra if ((y + oy) // cell) % 2 else rb
    return row


def _lut(c0, c1, levels):
    return [mix(c0, c1, i / (levels - 1)) for i in range(levels)]


def linear_gradient_rows(angle, c0, c1, levels=40):
    """Banded linear gradient across the whole frame along direction angle."""
    a = math.radians(angle)
    dx, dy = math.cos(a), math.sin(a)
    half = (abs(dx) * W + abs(dy) * H) / 2
    lut = _lut(c0, c1, levels)
    k = (levels - 1) / (2 * half)
    xs = [(x + 0.5 - W / 2) * dx * k for x in _XS]
    top = levels - 1

    def row(y):
        base = (y + 0.5 - H / 2) * dy * k + top / 2 + 0.5
        return b"".join([lut[min(top, max(0, int(px + base)))] for px in xs])
    return row


def radial_gradient_rows(cx, cy, radius, c0, c1, levels=40):
    lut = _lut(c0, c1, levels)
    top = levels - 1
    k = top / radius
    dx2 = [(x + 0.5 - cx) ** 2 for x in _XS]
    sqrt = math.sqrt

    def row(y):
        dy2 = (y + 0.5 - cy) ** 2
        return b"".join([lut[min(top, int(sqrt(d + dy2) * k))] for d in dx2])
    return row


def rings(c, cx, cy, r_out, width, c0, c1, r_in=0.0):
    """Concentric rings painted as alternating discs, outermost first."""
    r = r_out
    k = 0
    while r > r_in:
        c.fill(circle_spans(cx, cy, r), c1 if k % 2 == 0 else c0)
        r -= width
        k += 1


def scatter(rng, n, r, x0, y0, x1, y1, gap=2.0, tries=40):
    """Non-overlapping disc centres inside a box (best effort)."""
    pts = []
    cell = 2 * r + gap
    grid = {}
    for _ in range(n):
        for _ in range(tries):
            x = rng.uniform(x0 + r, max(x0 + r, x1 - r))
            y = rng.uniform(y0 + r, max(y0 + r, y1 - r))
            gx, gy = int(x // cell), int(y // cell)
            ok = True
            for ix in (gx - 1, gx, gx + 1):
                for iy in (gy - 1, gy, gy + 1):
                    for (px, py) in grid.get((ix, iy), ()):
                        if (px - x) ** 2 + (py - y) ** 2 < cell * cell:
                            ok = False
                            break
                    if not ok:
                        break
                if not ok:
                    break
            if ok:
                pts.append((x, y))
                grid.setdefault((gx, gy), []).append((x, y))
                break
    return pts


# --------------------------------------------------------------------------
# units.  Each generator takes (rng, side, s) where s in [0, 1] is how
# extreme the image is on its side: 1 = the most extreme reference (rank 8),
# about 0.45..0.9 = the other references, about 0.28 = the query.
# --------------------------------------------------------------------------

def _grating_patch(c, rng, s, angle, period=None):
    c0, c1 = contrast_pair(rng, 0.35 + 0.65 * s)
    if s >= 0.999:
        c0, c1 = rgb(20, 20, 28), rgb(240, 240, 235)
        period = period or 18
    period = period or rng.uniform(12, 26)
    spans, _ = region(rng, 1.0 if s >= 0.999 else 0.22 + 0.6 * s)
    c.pattern(spans, grating_rows(angle, period, 0.5, c0, c1, rng.random()))


def gen_stripes_horizontal(rng, side, s):
    c = Canvas(muted(rng))
    if side == "max":
        ang = rng.choice((-1, 1)) * (1 - s) * 25
        _grating_patch(c, rng, s, ang)
    else:
        if s >= 0.999 or s < 0.35 or rng.random() < 0.55:
            ang = 90 + rng.choice((-1, 1)) * (1 - s) * 35
            _grating_patch(c, rng, s, ang)
        else:  # smooth blobs
            clutter(c, rng, rng.randint(2, 5), lambda r: muted(r, 0.15, 1.0, 0.8),
                    ("disc", "ellipse"), 22, 55)
    if s < 0.999:
        clutter(c, rng, rng.randint(0, 2), lambda r: muted(r, 0.1, 1.0, 0.9),
                ("disc", "tri"), 8, 20)
    return c


def gen_redness(rng, side, s):
    g0, g1 = grey(rng), grey(rng)
    c = Canvas(g0)
    if rng.random() < 0.5:
        c.pattern(full_spans(), linear_gradient_rows(rng.choice((90, 0)), g0, g1, 24))

    def colour(r):
        if side == "max":
            h = (1 - s) * 40 + r.uniform(-6, 6)
            return hsv(h, 0.55 + 0.45 * s - r.uniform(0, 0.08), r.uniform(0.72, 1.0))
        h = r.choice((215, 195, 140, 165)) + r.uniform(-12, 12)
        return hsv(h, 0.3 + 0.7 * s - r.uniform(0, 0.08), r.uniform(0.55, 1.0))

    kinds = ("disc", "ellipse", "rect", "tri")
    if s >= 0.999:
        col = rgb(235, 20, 25) if side == "max" else rgb(20, 90, 230)
        c.fill(random_shape_spans(rng, ("disc", "rect"), 80, 95), col)
        clutter(c, rng, 3, lambda r: col, kinds, 25, 40)
    else:
        # a few neutral distractors first, then the coloured dominant shapes
        clutter(c, rng, rng.randint(0, 2), lambda r: grey(r, 0, 255), kinds, 12, 24)
        clutter(c, rng, 2 + rng.randint(0, 3), colour, kinds, 22, 35 + 35 * s)
    return c


def gen_dots(rng, side, s):
    if side == "max":
        bg = muted(rng)
        c = Canvas(bg)
        if s < 0.999 and rng.random() < 0.4:
            c.pattern(full_spans(), linear_gradient_rows(rng.uniform(0, 360), bg,
                                                         muted(rng), 32))
        # a couple of big smooth shapes make the weaker ones less obvious
        clutter(c, rng, int(round((1 - s) * 2.4)), lambda r: muted(r, 0.2, 1.0, 0.6),
                ("disc", "ellipse"), 30, 50)
        n = int(round(math.exp(lerp(math.log(18), math.log(170), s))))
        r = max(3.5, 48.0 / math.sqrt(n))
        if s >= 0.999:
            box = (0, 0, W, H)
        else:
            _, (cx, cy, rr) = region(rng, 0.4 + 0.55 * s)
            rr = max(rr, 60)
            box = (cx - rr * 1.2, cy - rr * 1.2, cx + rr * 1.2, cy + rr * 1.2)
        k = 0.5 + 0.5 * s
        cols = [mix(bg, rgb(0, 0, 0) if lum(bg) > 128 else rgb(255, 255, 255), k)]
        if rng.random() < 0.5:
            cols.append(mix(bg, hsv(rng.uniform(0, 360), 0.9, 0.9), k))
        for (x, y) in scatter(rng, n, r, *box):
            c.fill(circle_spans(x, y, r * rng.uniform(0.85, 1.1)), rng.choice(cols))
        return c
    # min: few large smooth shapes on a gentle gradient
    a, b = muted(rng), muted(rng)
    c = Canvas(a)
    c.pattern(full_spans(), linear_gradient_rows(rng.uniform(0, 360), a, b, 40))
    nshapes = 1 + int(round((1 - s) * 3 + rng.uniform(0, 0.8)))
    clutter(c, rng, nshapes, lambda r: muted(r, 0.15, 1.0, 0.85),
            ("disc", "ellipse", "rect"), lerp(40, 60, s), lerp(60, 95, s))
    ndots = int(round((1 - s) ** 2 * 10))
    col = muted(rng, 0.1, 1.0, 0.8)
    for (x, y) in scatter(rng, ndots, 13, 0, 0, W, H, gap=8):
        c.fill(circle_spans(x, y, rng.uniform(11, 16)), col)
    return c


def gen_checker(rng, side, s):
    a, b = muted(rng), muted(rng)
    c = Canvas(a)
    if side == "min" or rng.random() < 0.5:
        if rng.random() < 0.65:
            rows = linear_gradient_rows(rng.uniform(0, 360), a, b, 40)
        else:
            rows = radial_gradient_rows(rng.uniform(40, 184), rng.uniform(40, 184),
                                        rng.uniform(130, 220), a, b, 40)
        c.pattern(full_spans(), rows)
    if side == "max":
        cell = int(round(lerp(15, 5, s) + rng.uniform(-1, 1)))
        c0, c1 = contrast_pair(rng, 0.35 + 0.65 * s)
        if s >= 0.999:
            c0, c1, cell = rgb(15, 15, 15), rgb(245, 245, 245), 6
        spans, _ = region(rng, 1.0 if s >= 0.999 else 0.25 + 0.6 * s)
        c.pattern(spans, checker_rows(cell, c0, c1, rng.randint(0, cell), rng.randint(0, cell)))
        if s < 0.999:
            clutter(c, rng, rng.randint(0, 2), lambda r: muted(r, 0.1, 1.0, 0.8),
                    ("disc", "tri"), 12, 24)
    else:
        if s < 0.6:
            # a hint of coarse, low-contrast blocks
            cell = int(lerp(36, 52, s / 0.6))
            k = 0.2 * (1 - s)
            spans, _ = region(rng, 0.45)
            c0, c1 = mix(a, rgb(0, 0, 0), k), mix(a, rgb(255, 255, 255), k)
            c.pattern(spans, checker_rows(cell, c0, c1, rng.randint(0, cell), 0))
        if s < 0.999 and rng.random() < 0.5:
            clutter(c, rng, 1, lambda r: muted(r, 0.2, 1.0, 0.5), ("disc", "ellipse"), 25, 45)
    return c


def gen_rings(rng, side, s):
    bg = muted(rng)
    c = Canvas(bg)
    if side == "max":
        # straight distractors, fewer for stronger images
        clutter(c, rng, int(round((1 - s) * 3)), lambda r: muted(r, 0.15, 1.0, 0.8),
                ("rect", "bar"), 14, 30)
        c0, c1 = contrast_pair(rng, 0.35 + 0.65 * s)
        if s >= 0.999:
            c0, c1 = rgb(25, 20, 20), rgb(245, 240, 225)
            rings(c, W / 2, H / 2, 165, 10, c0, c1)
            return c
        r_out = lerp(42, 100, s) * rng.uniform(0.9, 1.1)
        width = rng.uniform(6, 10)
        cx = rng.uniform(r_out * 0.7, W - r_out * 0.7)
        cy = rng.uniform(r_out * 0.7, H - r_out * 0.7)
        rings(c, cx, cy, r_out, width, c0, c1)
        return c
    # min: straight lines and rectangles
    c0, c1 = contrast_pair(rng, 0.4 + 0.6 * s)
    if s >= 0.999:
        c.fill(full_spans(), c0)
        for k in range(7):
            x = 12 + k * 32
            c.fill(rect_spans(x, 0, x + 12, H), c1)
        for k in range(3):
            y = 30 + k * 70
            c.fill(rect_spans(0, y, W, y + 12), c1)
        return c
    if s < 0.35:
        # nested squares: "concentric" but straight
        cx, cy = rng.uniform(70, 154), rng.uniform(70, 154)
        half = rng.uniform(45, 60)
        width = rng.uniform(7, 10)
        k = 0
        while half > 3:
            c.fill(rect_spans(cx - half, cy - half, cx + half, cy + half),
                   c1 if k % 2 == 0 else c0)
            half -= width
            k += 1
    else:
        for _ in range(rng.randint(3, 5)):
            col = muted(rng, 0.1, 1.0, 0.8) if rng.random() < 0.5 else rng.choice((c0, c1))
            if rng.random() < 0.5:
                c.fill(random_shape_spans(rng, ("rect", "square", "bar"), 16, 40), col)
            else:
                x0, y0 = rng.uniform(0, W), rng.uniform(0, H)
                ang = rng.uniform(0, math.pi)
                L = rng.uniform(90, 220)
                c.fill(line_spans(x0 - L / 2 * math.cos(ang), y0 - L / 2 * math.sin(ang),
                                  x0 + L / 2 * math.cos(ang), y0 + L / 2 * math.sin(ang),
                                  rng.uniform(6, 14)), col)
    return c


def gen_diagonal(rng, side, s):
    c = Canvas(muted(rng))
    if side == "max":
        clutter(c, rng, int(round((1 - s) * 2.5)), lambda r: muted(r, 0.1, 1.0, 0.8),
                ("rect", "disc"), 12, 28)
        ang = 45 + rng.uniform(-1, 1) * (1 - s) * 16
        _grating_patch(c, rng, s, ang, None if s < 0.999 else 20)
    else:
        if s >= 0.6 or (s >= 0.35 and rng.random() < 0.5):
            ang = 135 + rng.uniform(-1, 1) * (1 - s) * 16
            _grating_patch(c, rng, s, ang, None if s < 0.999 else 20)
        else:
            # no diagonal at all: axis-aligned lines
            _grating_patch(c, rng, s, rng.choice((0, 90)))
        if s < 0.999:
            clutter(c, rng, rng.randint(0, 2), lambda r: muted(r, 0.1, 1.0, 0.8),
                    ("rect", "disc"), 12, 26)
    return c


# ------------------------------ catch units --------------------------------

def gen_catch_bright(rng, side, s):
    if side == "max":
        lo, hi = lerp(222, 238, s), lerp(238, 252, s)
    else:
        lo, hi = lerp(18, 4, s), lerp(36, 22, s)
    v = rng.uniform(lo, hi)
    tint = [rng.uniform(-4, 4) for _ in range(3)]
    c = Canvas(rgb(*(v + t for t in tint)))
    for _ in range(rng.randint(1, 3)):
        w = rng.uniform(lo - 10, hi + 4) if side == "max" else rng.uniform(lo, hi + 12)
        c.fill(random_shape_spans(rng, ("disc", "rect", "tri"), 20, 50), rgb(w, w, w))
    return c


def gen_catch_green(rng, side, s):
    base = 120 if side == "max" else 300
    sat = lerp(0.8, 1.0, s)

    def col(r):
        return hsv(base + r.uniform(-10, 10), sat - r.uniform(0, 0.15),
                   r.uniform(0.65, 0.95))
    c = Canvas(col(rng))
    clutter(c, rng, rng.randint(1, 3), col, ("disc", "rect", "ellipse"), 20, 50)
    return c


# ------------------------------ practice -----------------------------------

def gen_roundness(rng, side, s):
    """Practice feature: big round discs (max) versus big squares (min)."""
    c = Canvas(muted(rng, 0.7, 0.97, 0.25))
    col = hsv(rng.uniform(0, 360), rng.uniform(0.5, 0.9), rng.uniform(0.3, 0.7))
    def shape(r, col):
        # kept fully inside the frame so the outline is always visible
        cx, cy = rng.uniform(r + 6, W - r - 6), rng.uniform(r + 6, H - r - 6)
        if side == "max":
            c.fill(circle_spans(cx, cy, r), col)
        else:
            c.fill(rect_spans(cx - r, cy - r, cx + r, cy + r), col)
    shape(rng.uniform(lerp(38, 60, s), lerp(48, 75, s)), col)
    if rng.random() < 0.5:
        shape(rng.uniform(18, 30),
              hsv(rng.uniform(0, 360), rng.uniform(0.5, 0.9), rng.uniform(0.3, 0.7)))
    return c


GENERATORS = {
    "stripes_horizontal": gen_stripes_horizontal,
    "redness": gen_redness,
    "dots": gen_dots,
    "checker": gen_checker,
    "rings": gen_rings,
    "diagonal": gen_diagonal,
    "catch_bright": gen_catch_bright,
    "catch_green": gen_catch_green,
    "roundness": gen_roundness,
}

# practice trial -> (feature, schedule); 1-4 strong, 5 ordinary
PRACTICE = {
    1: ("roundness", "easy"),
    2: ("stripes_horizontal", "easy"),
    3: ("redness", "easy"),
    4: ("dots", "easy"),
    5: ("diagonal", "normal"),
}


def schedule(rng, kind):
    """Extremeness s for ranks 0..9 of one side: 0..7 sorted references
    (rank 0 the mildest), 8 the most extreme, 9 the query."""
    lo, hi, q = {"normal": (0.45, 0.9, (0.25, 0.32)),
                 "easy": (0.82, 1.0, (0.72, 0.78)),
                 "catch": (0.75, 1.0, (0.6, 0.7))}[kind]
    refs = sorted(rng.uniform(lo, hi) for _ in range(8))
    return refs + [1.0, rng.uniform(*q)]


# --------------------------------------------------------------------------
# PNG
# --------------------------------------------------------------------------

def _chunk(tag, data):
    return (struct.pack(">I", len(data)) + tag + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))


def encode_png(rows):
    """RGB8 PNG; per row: Up (all zero) when equal to the previous row,
    Sub otherwise (flat runs become zeros)."""
    raw = bytearray()
    prev = None
    cache = {}
    zero_up = b"\x02" + bytes(3 * W)
    for r in rows:
        rb = bytes(r)
        if rb == prev:
            raw += zero_up
        else:
            f = cache.get(rb)
            if f is None:
                f = b"\x01" + rb[:3] + bytes([(a - b) & 255 for a, b in zip(rb[3:], rb)])
                cache[rb] = f
            raw += f
        prev = rb
    ihdr = struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + _chunk(b"IEND", b""))


def check_png(path):
    with open(path, "rb") as f:
        head = f.read(33)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return False
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return (w, h, depth, ctype, interlace) == (W, H, 8, 2, 0)


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------

def write_set(folder, feature, sched_kind, seed):
    """Write min_0..9 and max_0..9 of one batch; returns the written paths."""
    os.makedirs(folder, exist_ok=True)
    gen = GENERATORS[feature]
    paths = []
    for side in ("min", "max"):
        strengths = schedule(random.Random(f"{seed}/{side}/schedule"), sched_kind)
        for i, s in enumerate(strengths):
            rng = random.Random(f"{seed}/{side}/{i}")
            path = os.path.join(folder, f"{side}_{i}.png")
            with open(path, "wb") as f:
                f.write(encode_png(gen(rng, side, s).rows))
            paths.append(path)
    return paths


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(repo, "demo", "stimuli"),
                    help="output folder (default: demo/stimuli in the repo)")
    out = ap.parse_args().out

    for sub in SUBDIRS:
        shutil.rmtree(os.path.join(out, sub), ignore_errors=True)

    paths = []
    for unit in UNITS:
        for b in range(BATCHES):
            paths += write_set(os.path.join(out, "units", unit, f"batch_{b}"),
                               unit, "normal", f"{unit}/{b}")
    for unit in CATCH_UNITS:
        paths += write_set(os.path.join(out, "catch", unit, "batch_0"),
                           unit, "catch", f"{unit}/0")
    for k in range(1, PRACTICE_TRIALS + 1):
        feature, kind = PRACTICE[k]
        paths += write_set(os.path.join(out, "practice", f"trial_{k}"),
                           feature, kind, f"practice/{k}")

    # self-check
    expected = (len(UNITS) * BATCHES + len(CATCH_UNITS) + PRACTICE_TRIALS) * 20
    bad = [p for p in paths if not check_png(p)]
    found = sum(1 for sub in SUBDIRS for _, _, fs in os.walk(os.path.join(out, sub))
                for f in fs if f.endswith(".png"))
    sizes = [os.path.getsize(p) for p in paths]
    big = max(range(len(paths)), key=lambda i: sizes[i])
    print(f"wrote {len(paths)} PNGs ({found} on disk, expected {expected}) to {out}")
    print(f"total {sum(sizes) / 1024:.1f} KiB, mean {sum(sizes) / len(sizes) / 1024:.1f} KiB, "
          f"largest {sizes[big] / 1024:.1f} KiB ({os.path.relpath(paths[big], out)})")
    if bad or found != expected or len(paths) != expected:
        raise SystemExit(f"self-check failed: {len(bad)} bad headers, {found} files")
    print("self-check ok: all 224x224 RGB8 non-interlaced")


if __name__ == "__main__":
    main()
