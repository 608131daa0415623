// lago_dist.cpp — the c10d side of the C ABI declared in lago_dist.h.
//
// Built with LAGO_DIST_GLOO when CMake found torch's c10d headers and the
// Gloo headers they include (Debian: libgloo-dev); with LAGO_DIST_NCCL as
// well where libtorch has CUDA and NCCL. Without LAGO_DIST_GLOO the same
// functions exist and say how to get the real ones, so the Go package links
// either way.
//
// What c10d does not give us, and this file adds:
//   - a rendezvous that names the missing ranks: each rank adds a join key to
//     the TCPStore and polls for all of them until the deadline, then checks
//     them one by one (1.13's TCPStore::wait only says "Socket Timeout");
//   - collectives over many tensors as one flat buffer (one network call);
//   - errors that name the lost rank: every rank keeps a heartbeat (a counter
//     and the number of the collective it is in) in the store from a thread
//     of its own, and a failed collective reads them all twice to tell which
//     rank stopped (Gloo itself only reports "Connection closed by peer" with
//     an address, or a timeout).

#include "lago_dist.h"

#include "lago_internal.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifdef LAGO_DIST_GLOO
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef LAGO_DIST_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace {

lt_error dist_error(const std::string& what) {
  char* out = static_cast<char*>(std::malloc(what.size() + 1));
  if (out == nullptr) return nullptr;
  std::memcpy(out, what.data(), what.size());
  out[what.size()] = '\0';
  return out;
}

std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

// The message of the exception in flight, on one line, without libtorch's
// C++ backtrace.
std::string current_message() {
  try {
    throw;
  } catch (const c10::Error& e) {
    return first_line(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return first_line(e.what());
  } catch (...) {
    return "unknown C++ exception";
  }
}

}  // namespace

#define LD_TRY try {
#define LD_CATCH(where)                                         \
  }                                                             \
  catch (...) {                                                 \
    return dist_error(std::string(where) + ": " + current_message()); \
  }                                                             \
  return nullptr;

#ifdef LAGO_DIST_GLOO

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::vector<uint8_t> bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }
std::string text(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }

std::string seconds(milliseconds d) {
  std::ostringstream os;
  os << static_cast<double>(d.count()) / 1000.0 << "s";
  return os.str();
}

std::string join_key(int r) { return "lago/join/" + std::to_string(r); }
std::string beat_key(int r) { return "lago/beat/" + std::to_string(r); }

std::string rank_list(const std::vector<int>& rs) {
  std::string s;
  for (size_t i = 0; i < rs.size(); i++) s += (i ? ", " : "") + std::to_string(rs[i]);
  return s;
}

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

}  // namespace

struct lt_dist_s {
  std::string backend, addr, file;  // file: a FileStore's path, else a TCPStore at addr:port
  int port = 0, rank = 0, size = 0;
  torch::Device device{torch::kCPU};
  milliseconds timeout{0}, interval{0}, op_timeout{0};
  milliseconds join{0};  // the rendezvous' deadline: launchers start ranks with skew
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  std::string broken;  // the first collective failure; the group is unusable after it

  std::string where() const { return file.empty() ? addr + ":" + std::to_string(port) : "store file " + file; }

  uint64_t seq = 0;                   // collectives entered, on the calling thread
  std::atomic<uint64_t> seq_pub{0};   // seq, for the heartbeat thread
  std::thread beat;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;

  ~lt_dist_s() {
    if (beat.joinable()) {
      {
        std::lock_guard<std::mutex> lk(mu);
        stop = true;
      }
      cv.notify_all();
      beat.join();
    }
    pg.reset();
    store.reset();
  }
};

namespace {

std::string beat_value(uint64_t beat, uint64_t seq) {
  return std::to_string(beat) + " " + std::to_string(seq);
}

// The heartbeat thread: its own store client, so that it never shares a
// socket with the calling thread. Store errors are ignored here (the store
// goes away when rank 0 leaves); a failed collective diagnoses them.
void heartbeat(lt_dist_s* g, c10::intrusive_ptr<c10d::Store> client) {
  uint64_t n = 0;
  std::unique_lock<std::mutex> lk(g->mu);
  while (!g->stop) {
    lk.unlock();
    try {
      client->set(beat_key(g->rank), bytes(beat_value(++n, g->seq_pub.load())));
    } catch (...) {
    }
    lk.lock();
    g->cv.wait_for(lk, g->interval, [g] { return g->stop; });
  }
}

struct Beat {
  bool ok = false;
  uint64_t beat = 0, seq = 0;
};

std::vector<Beat> read_beats(lt_dist_s* g) {
  std::vector<Beat> bs(g->size);
  for (int r = 0; r < g->size; r++) {
    try {
      std::istringstream is(text(g->store->get(beat_key(r))));
      is >> bs[r].beat >> bs[r].seq;
      bs[r].ok = !is.fail();
    } catch (...) {
      // A TCPStore that fails one read is gone (or frozen): do not wait out
      // its timeout once per rank.
      if (g->file.empty()) break;
    }
  }
  return bs;
}

// Which ranks stopped, from two readings of the heartbeats 2.5 intervals apart.
std::string diagnose(lt_dist_s* g) {
  try {
    g->store->setTimeout(g->interval * 2);
  } catch (...) {
  }
  auto a = read_beats(g);
  if (g->file.empty() && g->rank != 0 && std::none_of(a.begin(), a.end(), [](const Beat& b) { return b.ok; }))
    return "lost rank(s) 0: the rendezvous store it hosts at " + g->where() +
           " does not answer (process died or froze, or the network failed)";
  std::this_thread::sleep_for(g->interval * 5 / 2);
  auto b = read_beats(g);
  std::vector<int> stopped, behind;
  std::string behind_at;
  for (int r = 0; r < g->size; r++) {
    if (r == g->rank) continue;
    if (!a[r].ok || !b[r].ok || a[r].beat == b[r].beat) {
      stopped.push_back(r);
    } else if (b[r].seq < g->seq) {
      behind.push_back(r);
      behind_at += (behind_at.empty() ? "" : ", ") + std::to_string(r) + " at #" + std::to_string(b[r].seq);
    }
  }
  std::string out;
  if (!stopped.empty())
    out = "lost rank(s) " + rank_list(stopped) + ": no heartbeat in the last " +
          seconds(g->interval * 5 / 2) + " (process died or froze)";
  if (!behind.empty())
    out += std::string(out.empty() ? "" : "; ") + "rank(s) " + rank_list(behind) +
           " alive but not in this collective (" + behind_at + "): hung or diverged outside it";
  if (out.empty()) out = "every other rank still beats and is in this collective (a network or local failure)";
  return out;
}

// Runs one collective: numbered for the heartbeat, waited for with a safety
// net past Gloo's own timeout, and on failure turned into an error that
// names the lost rank(s).
template <class F>
void collective(lt_dist_s* g, const char* name, F start) {
  if (!g->broken.empty()) throw std::runtime_error("the group failed earlier and cannot be used: " + g->broken);
  g->seq++;
  g->seq_pub.store(g->seq);
  auto t0 = Clock::now();
  try {
    auto work = start();
    work->wait(g->op_timeout + g->interval);
  } catch (...) {
    auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
    auto why = current_message();  // before diagnose, which catches exceptions of its own
    std::string msg = std::string(name) + " #" + std::to_string(g->seq) + " on rank " + std::to_string(g->rank) +
                      " failed after " + seconds(took) + " (" + why + "); " + diagnose(g);
    g->broken = msg;
    throw std::runtime_error(msg);
  }
}

lt_dist_s* checked(lt_dist g) {
  if (g == nullptr) throw std::invalid_argument("NULL process group");
  return g;
}

std::vector<torch::Tensor> same_kind(const std::vector<torch::Tensor>& ts, const char* what) {
  if (ts.empty()) throw std::invalid_argument(std::string("no ") + what);
  for (size_t i = 0; i < ts.size(); i++) {
    if (!ts[i].defined()) throw std::invalid_argument(std::string(what) + " " + std::to_string(i) + " is undefined");
    if (ts[i].scalar_type() != ts[0].scalar_type() || ts[i].device() != ts[0].device())
      throw std::invalid_argument(std::string(what) + " " + std::to_string(i) + " is " +
                                  std::string(c10::toString(ts[i].scalar_type())) + " on " + ts[i].device().str() +
                                  ", but " + what + " 0 is " + std::string(c10::toString(ts[0].scalar_type())) +
                                  " on " + ts[0].device().str() + ": one flat buffer needs one dtype and device");
  }
  return ts;
}

std::vector<torch::Tensor> from_handles(const lt_tensor* ts, int n, const char* what) {
  if (n < 1 || ts == nullptr) throw std::invalid_argument(std::string("no ") + what);
  std::vector<torch::Tensor> v;
  v.reserve(n);
  for (int i = 0; i < n; i++) {
    if (ts[i] == nullptr) throw std::invalid_argument(std::string(what) + " " + std::to_string(i) + " is NULL");
    v.push_back(ts[i]->t);
  }
  return v;
}

// Always a new buffer (torch::cat copies): should a wait give up before the
// backend does, the backend still writes only into memory it holds a
// reference to, never into the callers' tensors or Go's float64 slice.
torch::Tensor flatten(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> flat;
  flat.reserve(ts.size());
  for (const auto& t : ts) flat.push_back(t.reshape({-1}));
  return torch::cat(flat);
}

void unflatten_into(const torch::Tensor& flat, const std::vector<torch::Tensor>& ts) {
  int64_t off = 0;
  for (const auto& t : ts) {
    auto n = t.numel();
    t.copy_(flat.narrow(0, off, n).view_as(t));
    off += n;
  }
}

c10d::ReduceOp reduce_op(int op) {
  switch (op) {
    case LT_REDUCE_SUM:
    case LT_REDUCE_AVG: return c10d::ReduceOp::SUM;  // Gloo has no AVG: sum, then divide
    case LT_REDUCE_MAX: return c10d::ReduceOp::MAX;
    case LT_REDUCE_MIN: return c10d::ReduceOp::MIN;
  }
  throw std::invalid_argument("unknown reduce op code " + std::to_string(op) + ": want sum, avg, max or min");
}

void allreduce_flat(lt_dist_s* g, const std::vector<torch::Tensor>& ts, int op, const char* name) {
  torch::NoGradGuard no_grad;
  auto rop = reduce_op(op);
  if (op == LT_REDUCE_AVG && !torch::isFloatingType(ts[0].scalar_type()))
    throw std::invalid_argument(std::string("avg needs floating tensors, not ") + c10::toString(ts[0].scalar_type()));
  std::vector<torch::Tensor> buf{flatten(ts)};
  c10d::AllreduceOptions o;
  o.reduceOp = rop;
  collective(g, name, [&] { return g->pg->allreduce(buf, o); });
  if (op == LT_REDUCE_AVG) buf[0].div_(g->size);
  unflatten_into(buf[0], ts);
}

// A client of the group's store; rank 0's first TCPStore is its server.
c10::intrusive_ptr<c10d::Store> open_store(lt_dist_s* g, bool server) {
  if (!g->file.empty()) {
    // numWorkers only counts the instances that must close before the last
    // one removes the file: each rank opens two (calls and heartbeat).
    auto st = c10::make_intrusive<c10d::FileStore>(g->file, 2 * g->size);
    st->setTimeout(g->join);
    return st;
  }
  c10d::TCPStoreOptions o;
  o.port = static_cast<uint16_t>(g->port);
  o.isServer = server;
  o.waitWorkers = false;  // lago waits itself, to name the missing ranks
  o.timeout = g->join;
  return c10::make_intrusive<c10d::TCPStore>(g->addr, o);
}

void rendezvous(lt_dist_s* g) {
  auto deadline = Clock::now() + g->join;
  auto where = g->where();
  try {
    g->store = open_store(g, g->rank == 0);
  } catch (...) {
    if (!g->file.empty())
      throw std::runtime_error("rank " + std::to_string(g->rank) + " cannot open the " + where + ": " +
                               current_message());
    if (g->rank == 0)
      throw std::runtime_error("rank 0 cannot host the rendezvous store on port " + std::to_string(g->port) + ": " +
                               current_message());
    throw std::runtime_error("rendezvous at " + where + ": rank 0, which hosts the store, was not reachable within " +
                             seconds(g->join) + " (" + current_message() + ")");
  }
  if (g->rank == 0) {
    g->store->set("lago/world_size", bytes(std::to_string(g->size)));
  } else {
    auto theirs = text(g->store->get("lago/world_size"));
    if (theirs != std::to_string(g->size))
      throw std::runtime_error("rendezvous at " + where + ": rank " + std::to_string(g->rank) +
                               " was started with world size " + std::to_string(g->size) + ", rank 0 with " + theirs);
  }
  g->store->set(beat_key(g->rank), bytes(beat_value(0, 0)));
  if (g->store->add(join_key(g->rank), 1) > 1)
    throw std::runtime_error("rendezvous at " + where + ": rank " + std::to_string(g->rank) +
                             " joined twice (two processes were started as rank " + std::to_string(g->rank) +
                             (g->file.empty() ? ")" : ", or the file is left from an earlier group)"));
  std::vector<std::string> keys;
  for (int r = 0; r < g->size; r++) keys.push_back(join_key(r));
  while (!g->store->check(keys)) {
    if (Clock::now() >= deadline) {
      std::vector<int> missing, joined;
      for (int r = 0; r < g->size; r++) (g->store->check({join_key(r)}) ? joined : missing).push_back(r);
      if (missing.empty()) break;  // the last one arrived just now
      throw std::runtime_error("rendezvous at " + where + " (world size " + std::to_string(g->size) +
                               ") incomplete after " + seconds(g->join) + ": rank(s) " + rank_list(missing) +
                               " did not join (joined: " + rank_list(joined) + ")");
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

std::shared_ptr<::gloo::transport::Device> gloo_device(const lt_dist_s* g) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname != '\0')
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (is_loopback(g->addr) || (!g->file.empty() && g->addr.empty())) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

extern "C" {

const char* lt_dist_backends(void) {
#ifdef LAGO_DIST_NCCL
  return "gloo,nccl";
#else
  return "gloo";
#endif
}

lt_error lt_dist_new(const char* backend, int rank, int world_size, const char* master_addr, int master_port,
                     const char* store_file, int64_t timeout_ms, int64_t join_timeout_ms, int device,
                     lt_dist* out) {
  LD_TRY
  if (out == nullptr) throw std::invalid_argument("NULL out");
  *out = nullptr;
  std::string be = backend ? backend : "";
  if (be != "gloo" && be != "nccl")
    throw std::invalid_argument("unknown backend \"" + be + "\": want gloo or nccl");
#ifndef LAGO_DIST_NCCL
  if (be == "nccl")
    throw std::invalid_argument(
        "backend nccl: this shim was built without it (it needs a libtorch with CUDA and NCCL); use gloo");
#endif
  if (world_size < 1) throw std::invalid_argument("world size " + std::to_string(world_size) + ": must be ≥ 1");
  if (rank < 0 || rank >= world_size)
    throw std::invalid_argument("rank " + std::to_string(rank) + " outside 0.." + std::to_string(world_size - 1));
  std::string file = store_file ? store_file : "";
  std::string addr = master_addr ? master_addr : "";
  if (file.empty() && addr.empty()) throw std::invalid_argument("no master address and no store file");
  if (file.empty() && (master_port < 1 || master_port > 65535))
    throw std::invalid_argument("master port " + std::to_string(master_port) + ": want 1..65535");
  if (be == "gloo" && device != LT_CPU)
    throw std::invalid_argument("backend gloo runs on the CPU: device " + std::to_string(device) + " asked for");
  if (be == "nccl" && device < 0) throw std::invalid_argument("backend nccl needs a CUDA device, not the CPU");
  if (timeout_ms < 100) throw std::invalid_argument("timeout " + std::to_string(timeout_ms) + "ms: want ≥ 100ms");

  auto g = std::make_unique<lt_dist_s>();
  g->backend = be;
  g->addr = addr;
  g->port = master_port;
  g->file = file;
  g->rank = rank;
  g->size = world_size;
  if (device >= 0) g->device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(device));
  g->timeout = milliseconds(timeout_ms);
  g->join = join_timeout_ms > 0 ? milliseconds(join_timeout_ms) : g->timeout;
  // The heartbeat interval and the diagnosis (2.5 intervals) fit inside the
  // timeout, with 1.5 intervals to spare for a loaded machine: a collective
  // errs out after op_timeout, then names the lost rank.
  g->interval = std::clamp(g->timeout / 20, milliseconds(10), milliseconds(1000));
  g->op_timeout = g->timeout - 4 * g->interval;

  rendezvous(g.get());
  // The heartbeat starts before the transport connects, so that a failure
  // there can already tell a lost rank from a network problem.
  g->beat = std::thread(heartbeat, g.get(), open_store(g.get(), false));
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>(be, g->store);
  try {
    if (be == "gloo") {
      auto o = c10d::ProcessGroupGloo::Options::create(g->op_timeout);
      o->devices.push_back(gloo_device(g.get()));
      g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, world_size, o);
    }
#ifdef LAGO_DIST_NCCL
    if (be == "nccl") {
      // Untested: no GPU run has recorded it yet. NCCL honours the timeout
      // only with NCCL_ASYNC_ERROR_HANDLING=1 in the environment.
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = g->op_timeout;
      g->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, rank, world_size, o);
    }
#endif
  } catch (...) {
    auto why = current_message();
    throw std::runtime_error("connecting the " + be + " transport between " + std::to_string(world_size) +
                             " ranks: " + why + "; " + diagnose(g.get()));
  }

  *out = g.release();
  LD_CATCH("dist_new")
}

void lt_dist_free(lt_dist g) {
  try {
    delete g;
  } catch (...) {
  }
}

lt_error lt_dist_broadcast(lt_dist h, const lt_tensor* ts, int n, int root) {
  LD_TRY
  auto g = checked(h);
  if (root < 0 || root >= g->size)
    throw std::invalid_argument("root rank " + std::to_string(root) + " outside 0.." + std::to_string(g->size - 1));
  auto v = same_kind(from_handles(ts, n, "tensor"), "tensor");
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> buf{flatten(v)};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  collective(g, "broadcast", [&] { return g->pg->broadcast(buf, o); });
  if (g->rank != root) unflatten_into(buf[0], v);
  LD_CATCH("dist_broadcast")
}

lt_error lt_dist_allreduce(lt_dist h, const lt_tensor* ts, int n, int op) {
  LD_TRY
  auto g = checked(h);
  allreduce_flat(g, same_kind(from_handles(ts, n, "tensor"), "tensor"), op, "all_reduce");
  LD_CATCH("dist_allreduce")
}

lt_error lt_dist_allreduce_grads(lt_dist h, const lt_tensor* params, int n, int op) {
  LD_TRY
  auto g = checked(h);
  auto ps = from_handles(params, n, "parameter");
  std::vector<torch::Tensor> grads;
  grads.reserve(ps.size());
  for (size_t i = 0; i < ps.size(); i++) {
    if (!ps[i].grad().defined())
      throw std::invalid_argument("parameter " + std::to_string(i) +
                                  " has no gradient (run backward first; every rank must reduce the same parameters)");
    grads.push_back(ps[i].grad());
  }
  allreduce_flat(g, same_kind(grads, "gradient"), op, "all_reduce(grads)");
  LD_CATCH("dist_allreduce_grads")
}

lt_error lt_dist_allreduce_f64(lt_dist h, double* data, int n, int op) {
  LD_TRY
  auto g = checked(h);
  if (n < 1 || data == nullptr) throw std::invalid_argument("no values");
  auto host = torch::from_blob(data, {n}, torch::kFloat64);
  auto on_device = host.to(g->device);  // the same memory on the CPU, a copy on CUDA
  allreduce_flat(g, {on_device}, op, "all_reduce(f64)");
  if (!on_device.is_same(host)) host.copy_(on_device);
  LD_CATCH("dist_allreduce_f64")
}

lt_error lt_dist_barrier(lt_dist h) {
  LD_TRY
  auto g = checked(h);
  collective(g, "barrier", [&] { return g->pg->barrier(); });
  LD_CATCH("dist_barrier")
}

}  // extern "C"

#else  // !LAGO_DIST_GLOO

struct lt_dist_s {};

namespace {
const char* kMissing =
    "distributed training needs torch's c10d with Gloo, and this shim was built without them (CMake found no "
    "c10d/gloo headers): on Debian, apt-get install libgloo-dev (make setup does), then rebuild the shim (make)";
}

extern "C" {
const char* lt_dist_backends(void) { return ""; }
lt_error lt_dist_new(const char*, int, int, const char*, int, const char*, int64_t, int64_t, int, lt_dist* out) {
  if (out != nullptr) *out = nullptr;
  return dist_error(kMissing);
}
void lt_dist_free(lt_dist) {}
lt_error lt_dist_broadcast(lt_dist, const lt_tensor*, int, int) { return dist_error(kMissing); }
lt_error lt_dist_allreduce(lt_dist, const lt_tensor*, int, int) { return dist_error(kMissing); }
lt_error lt_dist_allreduce_grads(lt_dist, const lt_tensor*, int, int) { return dist_error(kMissing); }
lt_error lt_dist_allreduce_f64(lt_dist, double*, int, int) { return dist_error(kMissing); }
lt_error lt_dist_barrier(lt_dist) { return dist_error(kMissing); }
}

#endif
