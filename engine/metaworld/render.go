package metaworld

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Render geometry: pixels per metre and the extent drawn, in metres.
const (
	renderScale = 500
	viewXMin    = -0.55
	viewXMax    = 0.55
	viewYMin    = 0.35
	viewYMax    = 1.05
	viewZMin    = -0.03
	viewZMax    = 0.55
	panelGap    = 20
	margin      = 10
	captionH    = 40
)

var (
	paper    = color.RGBA{250, 250, 248, 255}
	tableCol = color.RGBA{205, 180, 140, 255}
	boundCol = color.RGBA{120, 120, 200, 255}
	handCol  = color.RGBA{60, 60, 60, 255}
	padCol   = color.RGBA{240, 240, 240, 255}
	objCol   = color.RGBA{210, 40, 40, 255}
	goalCol  = color.RGBA{30, 170, 60, 255}
	ink      = color.RGBA{30, 30, 30, 255}
)

// Render draws the state in two panels, from above (x right, y up the
// image) and from the side (y right, z up): the table, the hand's bounds,
// the gripper (its claws and fingertip centre), the object, and the goal;
// with a caption naming the task, the step, the expert's skill and
// whether the task's success rule holds.
func (e *Env) Render() *image.RGBA {
	wTop := int((viewXMax - viewXMin) * renderScale)
	wSide := int((viewYMax - viewYMin) * renderScale)
	hTop := int((viewYMax - viewYMin) * renderScale)
	hSide := int((viewZMax - viewZMin) * renderScale)
	h := max(hTop, hSide)
	img := image.NewRGBA(image.Rect(0, 0, 2*margin+wTop+panelGap+wSide, 2*margin+h+captionH))
	draw.Draw(img, img.Bounds(), image.NewUniform(paper), image.Point{}, draw.Src)

	// Panel coordinates: top view maps (x, y), side view (y, z).
	top := func(x, y float64) (float64, float64) {
		return margin + (x-viewXMin)*renderScale, margin + (viewYMax-y)*renderScale
	}
	sideX0 := float64(margin + wTop + panelGap)
	side := func(y, z float64) (float64, float64) {
		return sideX0 + (y-viewYMin)*renderScale, margin + (viewZMax-z)*renderScale
	}
	box := func(f func(a, b float64) (float64, float64), a0, b0, a1, b1 float64, c color.RGBA) {
		x0, y0 := f(a0, b1)
		x1, y1 := f(a1, b0)
		fillRect(img, x0, y0, x1, y1, c)
	}
	disc := func(f func(a, b float64) (float64, float64), a, b, r float64, c color.RGBA) {
		x, y := f(a, b)
		fillDisc(img, x, y, r*renderScale, c)
	}

	// Table and bounds.
	// The table (x ±0.7, y 0.2–1.0) as far as the panels show it.
	box(top, viewXMin, viewYMin, viewXMax, 1.0, tableCol)
	box(side, viewYMin, viewZMin, 1.0, 0, tableCol)
	outline(img, top, handLow[0], handLow[1], handHigh[0], handHigh[1], boundCol)
	outline(img, side, handLow[1], handLow[2], handHigh[1], handHigh[2], boundCol)

	// The object.
	o := Obs(e.obs[:])
	p := o.Object()
	switch e.task.objects {
	case withPuck:
		disc(top, p[0], p[1], puckRadius, objCol)
		box(side, p[1]-puckRadius, p[2]-puckHalfHeight, p[1]+puckRadius, p[2]+puckHalfHeight, objCol)
	case withDrawer:
		b := e.ep.box
		box(top, b[0]-0.118, b[1]-0.1, b[0]+0.118, b[1]+0.1, color.RGBA{170, 150, 120, 255})
		box(side, b[1]-0.1, 0, b[1]+0.1, 0.168, color.RGBA{170, 150, 120, 255})
		d := e.bodyPos(e.object)
		box(top, d[0]-0.1, d[1]-0.09, d[0]+0.1, d[1]+0.09, color.RGBA{225, 210, 180, 255})
		box(top, d[0]-0.059, d[1]-0.159, d[0]+0.059, d[1]-0.141, objCol)
		box(side, d[1]-0.09, d[2]-0.06, d[1]+0.09, d[2]+0.06, color.RGBA{225, 210, 180, 255})
		disc(side, d[1]-0.15, d[2], 0.009, objCol)
	case withButton:
		b := e.ep.box
		box(top, b[0]-0.12, b[1]-0.12, b[0]+0.12, b[1]+0.12, color.RGBA{70, 70, 70, 255})
		box(side, b[1]-0.12, b[2]-0.114, b[1]+0.12, b[2]+0.09, color.RGBA{70, 70, 70, 255})
		disc(top, p[0], p[1], 0.043, objCol)
		box(side, p[1]-0.043, p[2]-0.022, p[1]+0.043, p[2], objCol)
		box(side, p[1]-0.021, b[2]+0.02, p[1]+0.021, p[2]-0.022, objCol)
	case withWindow:
		b := e.ep.box
		frameCol := color.RGBA{92, 66, 69, 255}
		box(top, b[0]-0.231, b[1]-0.03, b[0]+0.231, b[1]+0.03, frameCol)
		box(side, b[1]-0.06, b[2]-0.202, b[1]+0.06, b[2]-0.182, frameCol)
		box(side, b[1]-0.03, b[2]-0.181, b[1]+0.03, b[2]+0.181, frameCol)
		w := e.bodyPos(e.object)
		paneCol := color.RGBA{150, 190, 210, 255}
		box(top, w[0]-0.2, w[1]-0.025, w[0], w[1]-0.001, paneCol)
		box(top, b[0]+0.01, b[1]-0.012+0.013, b[0]+0.19, b[1]+0.012+0.013, paneCol)
		// The handle bar, 2.6 cm right of window-open's handle point
		// and 2.4 cm left of window-close's.
		bar := w[0] - 0.014
		box(top, bar-0.008, p[1]-0.008, bar+0.008, p[1]+0.008, objCol)
		box(top, bar-0.004, p[1], bar+0.004, p[1]+0.07, objCol)
		box(side, p[1]-0.008, p[2]-0.053, p[1]+0.008, p[2]+0.053, objCol)
	case withDoor:
		b := e.ep.box
		safeCol := color.RGBA{100, 100, 115, 255}
		box(top, b[0]-0.22, b[1]-0.106, b[0]+0.22, b[1]+0.106, safeCol)
		box(side, b[1]-0.106, b[2]-0.15, b[1]+0.106, b[2]+0.15, safeCol)
		// The door panel, from its hinge, turned by the hinge angle.
		hinge := e.bodyPos(e.object)
		th := e.data.QPos()[e.objQPos]
		for k := 0; k <= 36; k++ {
			r := 0.01 * float64(k)
			disc(top, hinge[0]+r*math.Cos(th), hinge[1]+r*math.Sin(th), 0.01, color.RGBA{160, 160, 175, 255})
		}
		disc(top, p[0], p[1], 0.02, objCol)
		box(side, p[1]-0.02, p[2]-0.02, p[1]+0.02, p[2]+0.02, objCol)
	case withPeg:
		b := e.ep.box
		boxCol := color.RGBA{140, 100, 65, 255}
		box(top, b[0]-0.096, b[1]-0.1, b[0]+0.096, b[1]+0.1, boxCol)
		box(top, b[0]-0.096, b[1]-0.03, b[0]+0.096, b[1]+0.03, color.RGBA{90, 60, 40, 255})
		box(side, b[1]-0.1, b[2], b[1]+0.1, b[2]+0.2, boxCol)
		box(side, b[1]-0.03, b[2]+0.1, b[1]+0.03, b[2]+0.16, color.RGBA{90, 60, 40, 255})
		c := e.bodyPos(e.object)
		pegCol := color.RGBA{60, 200, 60, 255}
		box(top, c[0]-0.12, c[1]-0.015, c[0]+0.12, c[1]+0.015, pegCol)
		box(side, c[1]-0.015, c[2]-0.015, c[1]+0.015, c[2]+0.015, pegCol)
		disc(top, p[0], p[1], 0.008, objCol)
		disc(side, p[1], p[2], 0.008, objCol)
	}
	g := o.Goal()
	ring(img, top, g[0], g[1], 0.02, goalCol)
	ring(img, side, g[1], g[2], 0.02, goalCol)

	// The gripper: claws from the side and above, the fingertip centre.
	for _, claw := range []int{e.leftClaw, e.rightClaw} {
		c := e.bodyPos(claw)
		box(top, c[0]-0.015, c[1]-0.003, c[0]+0.015, c[1]+0.003, handCol)
		box(side, c[1]-0.003, c[2]-0.045, c[1]+0.003, c[2]+0.045, handCol)
	}
	hp := e.bodyPos(e.hand)
	box(side, hp[1]-0.055, hp[2]+0.045, hp[1]+0.055, hp[2]+0.055, handCol)
	tcp := e.tcp()
	disc(top, tcp[0], tcp[1], 0.006, padCol)
	disc(side, tcp[1], tcp[2], 0.006, padCol)

	label(img, "top (x right, y up)", margin+4, margin+14)
	label(img, "side (y right, z up)", int(sideX0)+4, margin+14)
	status := "no"
	if e.Success() {
		status = "yes"
	}
	label(img, fmt.Sprintf("%s   step %d   skill: %s   success: %s", e.task.ID(), e.steps,
		e.task.Skills[e.ExpertSkill()].Name, status), margin, margin+h+18)
	label(img, e.task.Instruction, margin, margin+h+34)
	return img
}

func fillRect(img *image.RGBA, x0, y0, x1, y1 float64, c color.RGBA) {
	r := image.Rect(int(math.Round(x0)), int(math.Round(y0)), int(math.Round(x1))+1, int(math.Round(y1))+1)
	draw.Draw(img, r.Intersect(img.Bounds()), image.NewUniform(c), image.Point{}, draw.Over)
}

func fillDisc(img *image.RGBA, cx, cy, r float64, c color.RGBA) {
	for y := int(cy - r - 1); y <= int(cy+r+1); y++ {
		for x := int(cx - r - 1); x <= int(cx+r+1); x++ {
			if dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy; dx*dx+dy*dy <= r*r && image.Pt(x, y).In(img.Bounds()) {
				img.SetRGBA(x, y, c)
			}
		}
	}
}

func ring(img *image.RGBA, f func(a, b float64) (float64, float64), a, b, r float64, c color.RGBA) {
	cx, cy := f(a, b)
	rp := r * renderScale
	for y := int(cy - rp - 2); y <= int(cy+rp+2); y++ {
		for x := int(cx - rp - 2); x <= int(cx+rp+2); x++ {
			d := math.Hypot(float64(x)+0.5-cx, float64(y)+0.5-cy)
			if math.Abs(d-rp) <= 1.5 && image.Pt(x, y).In(img.Bounds()) {
				img.SetRGBA(x, y, c)
			}
		}
	}
}

func outline(img *image.RGBA, f func(a, b float64) (float64, float64), a0, b0, a1, b1 float64, c color.RGBA) {
	x0, y0 := f(a0, b1)
	x1, y1 := f(a1, b0)
	fillRect(img, x0, y0, x1, y0, c)
	fillRect(img, x0, y1, x1, y1, c)
	fillRect(img, x0, y0, x0, y1, c)
	fillRect(img, x1, y0, x1, y1, c)
}

// label draws text with its baseline starting at (x, y).
func label(img *image.RGBA, text string, x, y int) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(ink), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(text)
}
