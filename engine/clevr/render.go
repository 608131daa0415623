package clevr

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Render geometry: pixels per metre, the margin around the table and the
// height of the caption below it.
const (
	renderScale   = 400
	renderMargin  = 20
	captionHeight = 52
	lineHeight    = 16
)

var (
	paper     = color.RGBA{250, 250, 248, 255}
	tableGrey = color.RGBA{214, 214, 206, 255}
	wallGrey  = color.RGBA{90, 90, 90, 255}
	ink       = color.RGBA{30, 30, 30, 255}
)

// Render draws the scene from above: the table within its walls (front at
// the top, right to the right), the balls with their initials, the pusher
// where it is over the table, the goal region of each relation of the task
// around its destination ball, tinted in the source ball's colour, with an
// arrow from the source ball to its middle (a push task: an arrow from the
// ball the named way), and a caption: the instruction, the goal and the
// pushes so far. The caption grows for instructions longer than two lines.
func (e *Env) Render() *image.RGBA {
	w := int((WallXMax-WallXMin)*renderScale) + 2*renderMargin
	width := (w - 2*renderMargin) / basicfont.Face7x13.Advance
	lines := wrap(e.Instruction(), width)
	lines = append(lines, wrap(fmt.Sprintf("goal: %v   pushes: %d", e.task, e.steps), width)...)
	h := int((WallYMax-WallYMin)*renderScale) + 2*renderMargin + max(captionHeight, len(lines)*lineHeight+4)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(paper), image.Point{}, draw.Src)

	// World to pixel coordinates; y is flipped so that the front is up.
	px := func(x float64) float64 { return renderMargin + (x-WallXMin)*renderScale }
	py := func(y float64) float64 { return renderMargin + (WallYMax-y)*renderScale }
	x0, y0, x1, y1 := px(WallXMin), py(WallYMax), px(WallXMax), py(WallYMin)
	fill(img, rect(x0, y0, x1, y1), tableGrey)
	const wall = 3
	outer := rect(x0-wall, y0-wall, x1+wall, y1+wall)
	fill(img, shape{outer.box, func(x, y float64) bool {
		return outer.in(x, y) && !(x >= x0 && x <= x1 && y >= y0 && y <= y1)
	}}, wallGrey)

	pos := e.Positions()
	regions := e.task.Rels[:e.task.N]
	for _, g := range regions {
		drawRegion(img, &pos, g, px, py, x0, y0, x1, y1)
	}

	for i, p := range pos {
		bx, by, r := px(p[0]), py(p[1]), BallRadius*renderScale
		fill(img, circle(bx, by, r), darker(ballColour(i)))
		fill(img, circle(bx, by, r-2.5), ballColour(i))
		label(img, strings.ToUpper(Colours[i][:1]), int(bx)-3, int(by)+4)
	}
	q := e.data.QPos()
	if pxX, pxY := q[e.pusherQPos[0]], q[e.pusherQPos[1]]; pxX >= WallXMin && pxX <= WallXMax && pxY >= WallYMin && pxY <= WallYMax {
		fill(img, circle(px(pxX), py(pxY), PusherRadius*renderScale), ink)
		fill(img, circle(px(pxX), py(pxY), PusherRadius*renderScale-2), color.RGBA{255, 255, 255, 255})
	}

	// The arrows run from the source ball's edge to the middle of the
	// goal region; a push task's from its ball the named way.
	for _, g := range regions {
		u, dst := relDirs[g.Rel], pos[g.Dst]
		mid := 0.5 * (2*BallRadius + SuccessRadius)
		arrow(img, px(pos[g.Src][0]), py(pos[g.Src][1]), px(dst[0]+mid*u[0]), py(dst[1]+mid*u[1]))
	}
	if t := e.task; t.Kind == KindPush {
		p, u := pos[t.Ball], relDirs[t.Dir]
		const length = 0.3
		arrow(img, px(p[0]), py(p[1]), px(p[0]+(BallRadius+length)*u[0]), py(p[1]+(BallRadius+length)*u[1]))
	}

	top := int(y1) + wall + lineHeight + 2
	for i, line := range lines {
		label(img, line, renderMargin, top+i*lineHeight)
	}
	return img
}

// drawRegion tints the goal region of g, around its destination ball, in
// the source ball's colour.
func drawRegion(img *image.RGBA, pos *[NumBalls][2]float64, g Goal, px, py func(float64) float64, x0, y0, x1, y1 float64) {
	dst := pos[g.Dst]
	u := relDirs[g.Rel]
	// The goal region, in pixels: u's y flips too.
	cx, cy, ux, uy := px(dst[0]), py(dst[1]), u[0], -u[1]
	radius := SuccessRadius * renderScale
	tint := ballColour(g.Src)
	tint.A = 70
	fill(img, shape{circle(cx, cy, radius).box, func(x, y float64) bool {
		dx, dy := x-cx, y-cy
		along, across := dx*ux+dy*uy, -dx*uy+dy*ux
		onTable := x >= x0 && x <= x1 && y >= y0 && y <= y1
		return onTable && dx*dx+dy*dy < radius*radius && along >= math.Abs(across)
	}}, tint)
}

// arrow draws an arrow from the edge of the ball centred at (sx, sy) to
// (tx, ty), in pixels, unless they are too close for one.
func arrow(img *image.RGBA, sx, sy, tx, ty float64) {
	l := math.Hypot(tx-sx, ty-sy)
	if l <= BallRadius*renderScale+12 {
		return
	}
	dx, dy := (tx-sx)/l, (ty-sy)/l
	sx, sy = sx+dx*BallRadius*renderScale, sy+dy*BallRadius*renderScale
	const head = 14
	bx, by := tx-dx*head, ty-dy*head
	fill(img, segment(sx, sy, bx, by, 3), ink)
	fill(img, triangle(tx, ty, bx-dy*head/2, by+dx*head/2, bx+dy*head/2, by-dx*head/2), ink)
}

func ballColour(i int) color.RGBA {
	c := rgba[i]
	return color.RGBA{uint8(255 * c[0]), uint8(255 * c[1]), uint8(255 * c[2]), 255}
}

func darker(c color.RGBA) color.RGBA {
	return color.RGBA{c.R / 2, c.G / 2, c.B / 2, c.A}
}

// shape is a region of the image: a test on pixel coordinates, the centre
// of pixel (i, j) being (i+0.5, j+0.5), and a box that holds the region.
type shape struct {
	box image.Rectangle
	in  func(x, y float64) bool
}

// bounds returns the pixel box that holds [x0, x1] × [y0, y1].
func bounds(x0, y0, x1, y1 float64) image.Rectangle {
	return image.Rect(int(math.Floor(x0)), int(math.Floor(y0)), int(math.Ceil(x1))+1, int(math.Ceil(y1))+1)
}

// fill blends colour c over the pixels of img inside s, with 4×4
// supersampling for smooth edges.
func fill(img *image.RGBA, s shape, c color.RGBA) {
	const n = 4
	inside := s.in
	b := s.box.Intersect(img.Bounds())
	alpha := float64(c.A) / 255
	for j := b.Min.Y; j < b.Max.Y; j++ {
		for i := b.Min.X; i < b.Max.X; i++ {
			hits := 0
			for sj := range n {
				for si := range n {
					if inside(float64(i)+(float64(si)+0.5)/n, float64(j)+(float64(sj)+0.5)/n) {
						hits++
					}
				}
			}
			if hits == 0 {
				continue
			}
			a := alpha * float64(hits) / (n * n)
			o := img.RGBAAt(i, j)
			mix := func(dst, src uint8) uint8 { return uint8(math.Round(float64(dst)*(1-a) + float64(src)*a)) }
			img.SetRGBA(i, j, color.RGBA{mix(o.R, c.R), mix(o.G, c.G), mix(o.B, c.B), 255})
		}
	}
}

func rect(x0, y0, x1, y1 float64) shape {
	return shape{bounds(x0, y0, x1, y1), func(x, y float64) bool { return x >= x0 && x <= x1 && y >= y0 && y <= y1 }}
}

func circle(cx, cy, r float64) shape {
	return shape{bounds(cx-r, cy-r, cx+r, cy+r), func(x, y float64) bool { return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r }}
}

// segment is the set of points within width/2 of the segment a–b.
func segment(ax, ay, bx, by, width float64) shape {
	dx, dy := bx-ax, by-ay
	l2 := dx*dx + dy*dy
	w := width / 2
	return shape{bounds(min(ax, bx)-w, min(ay, by)-w, max(ax, bx)+w, max(ay, by)+w), func(x, y float64) bool {
		t := min(max(((x-ax)*dx+(y-ay)*dy)/l2, 0), 1)
		ex, ey := x-(ax+t*dx), y-(ay+t*dy)
		return ex*ex+ey*ey <= w*w
	}}
}

func triangle(ax, ay, bx, by, cx, cy float64) shape {
	side := func(x, y, px, py, qx, qy float64) float64 { return (qx-px)*(y-py) - (qy-py)*(x-px) }
	return shape{bounds(min(ax, bx, cx), min(ay, by, cy), max(ax, bx, cx), max(ay, by, cy)), func(x, y float64) bool {
		s1, s2, s3 := side(x, y, ax, ay, bx, by), side(x, y, bx, by, cx, cy), side(x, y, cx, cy, ax, ay)
		return (s1 >= 0 && s2 >= 0 && s3 >= 0) || (s1 <= 0 && s2 <= 0 && s3 <= 0)
	}}
}

// label draws text with its baseline starting at (x, y).
func label(img *image.RGBA, text string, x, y int) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(ink), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(text)
}

// wrap splits text into lines of at most width characters, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}
