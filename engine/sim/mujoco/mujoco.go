// Package mujoco is lago's Go face of the MuJoCo 2.2 C library: compile a
// model from MJCF text, and step, reset and inspect simulations of it.
//
// It is the only package in lago that imports "C" for MuJoCo. Calls into C
// are coarse on purpose: [Data.Step] runs any number of mj_step calls in one
// cgo call, and the state arrays (qpos, qvel, ctrl) are read and written
// through Go slices that alias MuJoCo's own memory, with no cgo call at all.
//
// Memory: a [Model] owns an mjModel and a [Data] an mjData, until Close. A
// cleanup (runtime.AddCleanup) frees them if they are dropped unclosed, but
// only as a safety net: the Go heap does not see MuJoCo's memory, so code
// that makes many should close them deterministically.
//
// Concurrency: a Model is read-only once compiled and may be shared by Datas
// stepped concurrently, one goroutine per Data; a Data is not safe for
// concurrent use.
package mujoco

/*
#cgo LDFLAGS: -lmujoco
#include <stdlib.h>
#include <string.h>
#include <mujoco/mujoco.h>

// lago_load_xml compiles the MJCF document xml[0:n] through a private virtual
// file system, so that nothing is read from or written to disk. The VFS is
// about 2 MB (mjMAXVFS names of mjMAXVFSNAME bytes), too large for a stack,
// so it lives on the heap for the duration of the call.
static mjModel* lago_load_xml(const char* xml, int n, char* err, int errsz) {
	static const char* name = "model.xml";
	mjVFS* vfs = malloc(sizeof(mjVFS));
	if (vfs == NULL) {
		strncpy(err, "cannot allocate the virtual file system", errsz - 1);
		return NULL;
	}
	mj_defaultVFS(vfs);
	// One byte more than the document for a terminating NUL, so that the
	// buffer is a valid C string whichever way the parser reads it.
	if (mj_makeEmptyFileVFS(vfs, name, n + 1) != 0) {
		strncpy(err, "cannot add the model to the virtual file system", errsz - 1);
		free(vfs);
		return NULL;
	}
	int i = mj_findFileVFS(vfs, name);
	memcpy(vfs->filedata[i], xml, n);
	((char*)vfs->filedata[i])[n] = 0;
	mjModel* m = mj_loadXML(name, vfs, err, errsz);
	mj_deleteVFS(vfs);
	free(vfs);
	return m;
}

static void lago_step(const mjModel* m, mjData* d, int n) {
	for (int i = 0; i < n; i++) {
		mj_step(m, d);
	}
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// Version returns the version of the MuJoCo library lago is linked with,
// such as "2.2.2".
func Version() string { return C.GoString(C.mj_versionString()) }

// loadMu serialises model compilation: MuJoCo 2.2's XML loader keeps the
// last parsed model in global state (for mj_saveLastXML), so two loads must
// not run at once.
var loadMu sync.Mutex

// Model is a compiled MuJoCo model (an mjModel).
type Model struct {
	p       *C.mjModel
	cleanup runtime.Cleanup

	// Sizes, copied once so that reading them needs no cgo call.
	nq, nv, nu, na, nbody, nmocap, nsite int
}

// LoadXML compiles an MJCF document given as text. Compile errors, such as
// malformed XML or an unknown attribute, are returned as errors carrying
// MuJoCo's message.
func LoadXML(xml string) (*Model, error) {
	if len(xml) == 0 {
		return nil, errors.New("mujoco: empty MJCF document")
	}
	cxml := C.CString(xml)
	defer C.free(unsafe.Pointer(cxml))
	var errBuf [1024]C.char

	loadMu.Lock()
	p := C.lago_load_xml(cxml, C.int(len(xml)), &errBuf[0], C.int(len(errBuf)))
	loadMu.Unlock()
	if p == nil {
		msg := strings.TrimSpace(C.GoString(&errBuf[0]))
		if msg == "" {
			msg = "unknown error"
		}
		return nil, fmt.Errorf("mujoco: loading MJCF: %s", msg)
	}
	m := &Model{
		p:  p,
		nq: int(p.nq), nv: int(p.nv), nu: int(p.nu), na: int(p.na),
		nbody: int(p.nbody), nmocap: int(p.nmocap), nsite: int(p.nsite),
	}
	m.cleanup = runtime.AddCleanup(m, func(p *C.mjModel) { C.mj_deleteModel(p) }, p)
	return m, nil
}

// Close frees the model. Every Data made from it must be closed first.
// Close is idempotent.
func (m *Model) Close() {
	if m.p == nil {
		return
	}
	m.cleanup.Stop()
	C.mj_deleteModel(m.p)
	m.p = nil
}

func (m *Model) live() *C.mjModel {
	if m.p == nil {
		panic("mujoco: Model used after Close")
	}
	return m.p
}

// NQ, NV and NU return the number of generalised coordinates (len of
// qpos), degrees of freedom (len of qvel) and actuators (len of ctrl).
func (m *Model) NQ() int { return m.nq }
func (m *Model) NV() int { return m.nv }
func (m *Model) NU() int { return m.nu }

// Timestep returns the simulation time step in seconds (option timestep).
func (m *Model) Timestep() float64 { return float64(m.live().opt.timestep) }

// JointType is the kind of a joint, as mjtJoint.
type JointType int

// Joint types, with their number of qpos entries.
const (
	Free  JointType = C.mjJNT_FREE  // 7: position and unit quaternion
	Ball  JointType = C.mjJNT_BALL  // 4: unit quaternion
	Slide JointType = C.mjJNT_SLIDE // 1
	Hinge JointType = C.mjJNT_HINGE // 1
)

// Joint locates a joint's coordinates in the state vectors.
type Joint struct {
	ID   int
	Type JointType
	// QPos and Dof are the indices of the joint's first entry in qpos and
	// in qvel.
	QPos, Dof int
}

// Joint looks up the joint called name.
func (m *Model) Joint(name string) (Joint, error) {
	id, err := m.id(C.mjOBJ_JOINT, "joint", name)
	if err != nil {
		return Joint{}, err
	}
	p := m.live()
	at := func(arr *C.int) int { return int(unsafe.Slice(arr, id+1)[id]) }
	return Joint{ID: id, Type: JointType(at(p.jnt_type)), QPos: at(p.jnt_qposadr), Dof: at(p.jnt_dofadr)}, nil
}

// Actuator returns the index in ctrl of the actuator called name.
func (m *Model) Actuator(name string) (int, error) {
	return m.id(C.mjOBJ_ACTUATOR, "actuator", name)
}

// Body returns the index of the body called name: its row in
// [Data.BodyXPos] and [Data.BodyXQuat].
func (m *Model) Body(name string) (int, error) {
	return m.id(C.mjOBJ_BODY, "body", name)
}

// Site returns the index of the site called name: its row in
// [Data.SiteXPos].
func (m *Model) Site(name string) (int, error) {
	return m.id(C.mjOBJ_SITE, "site", name)
}

// Mocap returns the index of the mocap body called name: its row in
// [Data.MocapPos] and [Data.MocapQuat]. It is an error if the body is not a
// mocap body.
func (m *Model) Mocap(name string) (int, error) {
	b, err := m.Body(name)
	if err != nil {
		return 0, err
	}
	i := int(unsafe.Slice(m.live().body_mocapid, m.nbody)[b])
	if i < 0 {
		return 0, fmt.Errorf("mujoco: body %q is not a mocap body", name)
	}
	return i, nil
}

func (m *Model) id(typ C.int, kind, name string) (int, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	id := int(C.mj_name2id(m.live(), typ, cname))
	if id < 0 {
		return 0, fmt.Errorf("mujoco: model has no %s named %q", kind, name)
	}
	return id, nil
}

// Data is the state of one simulation of a Model (an mjData).
type Data struct {
	m       *Model
	p       *C.mjData
	cleanup runtime.Cleanup

	qpos, qvel, ctrl []float64
	// Derived positions, recomputed by Step and Forward; and the mocap
	// bodies' poses, which are part of the state.
	xpos, xquat, siteXPos, mocapPos, mocapQuat []float64
	// state lists, in order, the arrays that make up StateSize.
	state [][]float64
}

// NewData returns a simulation of m in its default state: qpos0, zero
// velocities and controls, time 0.
func NewData(m *Model) (*Data, error) {
	p := C.mj_makeData(m.live())
	if p == nil {
		return nil, errors.New("mujoco: cannot allocate simulation data")
	}
	d := &Data{m: m, p: p}
	d.cleanup = runtime.AddCleanup(d, func(p *C.mjData) { C.mj_deleteData(p) }, p)
	d.qpos = view(p.qpos, m.nq)
	d.qvel = view(p.qvel, m.nv)
	d.ctrl = view(p.ctrl, m.nu)
	d.xpos = view(p.xpos, 3*m.nbody)
	d.xquat = view(p.xquat, 4*m.nbody)
	d.siteXPos = view(p.site_xpos, 3*m.nsite)
	d.mocapPos = view(p.mocap_pos, 3*m.nmocap)
	d.mocapQuat = view(p.mocap_quat, 4*m.nmocap)
	d.state = [][]float64{
		unsafe.Slice((*float64)(unsafe.Pointer(&p.time)), 1),
		d.qpos, d.qvel,
		view(p.act, m.na),
		d.ctrl,
		view(p.qfrc_applied, m.nv),
		view(p.xfrc_applied, 6*m.nbody),
		d.mocapPos,
		d.mocapQuat,
		// The solver starts from the last step's accelerations; without
		// them a restored state would not step bit-exactly as the
		// original did.
		view(p.qacc_warmstart, m.nv),
	}
	return d, nil
}

// view returns a Go slice over n mjtNums (C doubles) of MuJoCo's memory.
func view(p *C.mjtNum, n int) []float64 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(p)), n)
}

// Close frees the simulation. Slices returned by QPos, QVel and Ctrl must not
// be used after. Close is idempotent.
func (d *Data) Close() {
	if d.p == nil {
		return
	}
	d.cleanup.Stop()
	C.mj_deleteData(d.p)
	d.p = nil
	d.qpos, d.qvel, d.ctrl, d.state = nil, nil, nil, nil
	d.xpos, d.xquat, d.siteXPos, d.mocapPos, d.mocapQuat = nil, nil, nil, nil, nil
}

func (d *Data) live() *C.mjData {
	if d.p == nil {
		panic("mujoco: Data used after Close")
	}
	return d.p
}

// Model returns the model d simulates.
func (d *Data) Model() *Model { return d.m }

// QPos, QVel and Ctrl return the generalised positions, velocities and
// controls. The slices alias MuJoCo's arrays: writing to them changes the
// simulation, and they are valid until Close.
func (d *Data) QPos() []float64 { return d.qpos }
func (d *Data) QVel() []float64 { return d.qvel }
func (d *Data) Ctrl() []float64 { return d.ctrl }

// BodyXPos and BodyXQuat return the world positions (3 per body) and
// orientations (unit quaternions w, x, y, z, 4 per body) of the bodies'
// frames, in body index order ([Model.Body]); SiteXPos the world positions
// of the sites (3 per site, [Model.Site]). They are derived quantities:
// Step and Forward recompute them, and after writing qpos they are stale
// until the next Forward. The slices alias MuJoCo's arrays and are valid
// until Close; do not write to them.
func (d *Data) BodyXPos() []float64  { return d.xpos }
func (d *Data) BodyXQuat() []float64 { return d.xquat }
func (d *Data) SiteXPos() []float64  { return d.siteXPos }

// MocapPos and MocapQuat return the positions (3 per mocap body) and
// orientations (4 per mocap body, w, x, y, z) that the mocap bodies are
// placed at ([Model.Mocap]). They are inputs to the simulation, part of the
// state: writing to them moves the mocap bodies at the next Step or
// Forward. The slices alias MuJoCo's arrays and are valid until Close.
func (d *Data) MocapPos() []float64  { return d.mocapPos }
func (d *Data) MocapQuat() []float64 { return d.mocapQuat }

// Contacts returns the number of contacts found at the last Step or
// Forward (mjData.ncon), and Constraints the number of constraint rows
// (mjData.nefc): together the main drivers of a time step's cost.
func (d *Data) Contacts() int    { return int(d.live().ncon) }
func (d *Data) Constraints() int { return int(d.live().nefc) }

// Time returns the simulation time in seconds.
func (d *Data) Time() float64 { return float64(d.live().time) }

// Step advances the simulation by n time steps (n calls of mj_step) in a
// single cgo call.
func (d *Data) Step(n int) {
	if n <= 0 {
		return
	}
	C.lago_step(d.m.live(), d.live(), C.int(n))
}

// Forward computes the derived quantities of the current state (positions of
// bodies, contacts, forces) without advancing time (mj_forward).
func (d *Data) Forward() { C.mj_forward(d.m.live(), d.live()) }

// Kinematics recomputes the positions and orientations of bodies, geoms
// and sites ([Data.BodyXPos], [Data.SiteXPos]) from qpos and the mocap
// poses, and nothing else (mj_kinematics): far cheaper than Forward. After
// Step they describe the state before the last time step's integration;
// Kinematics brings them up to date.
func (d *Data) Kinematics() { C.mj_kinematics(d.m.live(), d.live()) }

// Reset returns the simulation to the model's default state (mj_resetData):
// qpos0, zero velocities, controls and warm start, time 0.
func (d *Data) Reset() { C.mj_resetData(d.m.live(), d.live()) }

// Warning is a kind of problem MuJoCo counts during simulation (mjtWarning).
type Warning int

// Warnings that signal an unstable simulation. On a bad acceleration
// MuJoCo resets the data to the default state and carries on.
const (
	BadQPos Warning = C.mjWARN_BADQPOS
	BadQVel Warning = C.mjWARN_BADQVEL
	BadQAcc Warning = C.mjWARN_BADQACC
)

// Warnings returns how many times warning w was raised since the last Reset.
func (d *Data) Warnings(w Warning) int {
	if w < 0 || w >= C.mjNWARNING {
		panic(fmt.Sprintf("mujoco: warning %d out of range", int(w)))
	}
	return int(d.live().warning[w].number)
}

// StateSize returns the number of float64s in a state: time, qpos, qvel,
// act, ctrl, qfrc_applied, xfrc_applied, mocap_pos, mocap_quat and
// qacc_warmstart, in that order. That is everything mj_step reads which is
// not recomputed from the rest, so restoring a state with SetState and
// stepping reproduces the original trajectory bit-exactly.
func (d *Data) StateSize() int {
	n := 0
	for _, a := range d.state {
		n += len(a)
	}
	return n
}

// State copies the state into dst, which must hold StateSize values.
func (d *Data) State(dst []float64) {
	d.live()
	if len(dst) != d.StateSize() {
		panic(fmt.Sprintf("mujoco: State into %d values, want %d", len(dst), d.StateSize()))
	}
	for _, a := range d.state {
		dst = dst[copy(dst, a):]
	}
}

// SetState restores a state written by State into a Data of the same model.
func (d *Data) SetState(src []float64) error {
	d.live()
	if len(src) != d.StateSize() {
		return fmt.Errorf("mujoco: state of %d values, want %d", len(src), d.StateSize())
	}
	for _, a := range d.state {
		src = src[copy(a, src):]
	}
	return nil
}
