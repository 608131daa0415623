/*
 * lago_dist.h — the C ABI over torch's distributed engine (c10d): a process
 * group formed by TCPStore rendezvous, then collectives through
 * ProcessGroupGloo (CPU tensors) or, where libtorch has CUDA and NCCL,
 * ProcessGroupNCCL (CUDA tensors; compiled only there, untested so far).
 *
 * Conventions as in lago_torch.h: every function that can fail returns an
 * lt_error (NULL on success, else a malloc'ed message freed with
 * lt_error_free); no C++ exception or type crosses the boundary.
 *
 * A group is used by one thread at a time, and every rank must call the same
 * collectives in the same order with the same tensor shapes. A collective
 * that cannot complete (a rank died, hangs, or the network failed) returns
 * an error within the group's timeout; the message names the rank(s) that
 * stopped, found by a heartbeat each rank keeps in the rendezvous store.
 * After such an error the group is unusable: free it.
 */
#ifndef LAGO_DIST_H
#define LAGO_DIST_H

#include <stdint.h>

#include "lago_torch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_dist_s* lt_dist;

enum lt_reduce_op { LT_REDUCE_SUM = 0, LT_REDUCE_AVG = 1, LT_REDUCE_MAX = 2, LT_REDUCE_MIN = 3 };

/* The backends this shim was compiled with, comma-separated ("gloo",
 * "gloo,nccl"), or "" when the c10d/Gloo headers were missing at build time. */
const char* lt_dist_backends(void);

/*
 * Joins a group of world_size processes as rank. The ranks meet in a store:
 *   - store_file NULL or "": a TCPStore that rank 0 hosts at master_port
 *     (listening on every interface: libtorch 1.13's TCPStore binds the
 *     wildcard address) and every rank reaches at master_addr:master_port;
 *   - else a FileStore at that path (one machine, or a shared filesystem;
 *     torch's file:// init): nothing listens but the transport. The path must
 *     not hold a store from an earlier group.
 * Within join_timeout_ms (timeout_ms when ≤ 0) all ranks must join, or the
 * error lists the missing ones. timeout_ms bounds every later collective.
 *
 * device is LT_CPU for gloo; for nccl, the CUDA device this rank uses (its
 * LOCAL_RANK, usually); the float64 all-reduce stages through it.
 *
 * The Gloo transport binds the address of the interface GLOO_SOCKET_IFNAME
 * names when that is set, 127.0.0.1 when master_addr is a loopback address
 * (or with a store file and no master_addr), else the address this host's
 * name resolves to (torch's default).
 */
lt_error lt_dist_new(const char* backend, int rank, int world_size, const char* master_addr,
                     int master_port, const char* store_file, int64_t timeout_ms,
                     int64_t join_timeout_ms, int device, lt_dist* out);
/* Leaves the group (no collective: other ranks are not waited for). */
void lt_dist_free(lt_dist g);

/* Copies root's tensors into every rank's (same shapes, dtype and device on
 * all ranks), as one flat buffer and one broadcast. Outside autograd, so
 * parameters that require grad can be the targets. */
lt_error lt_dist_broadcast(lt_dist g, const lt_tensor* ts, int n, int root);

/* Reduces the tensors element-wise over all ranks, in place, as one flat
 * buffer and one all-reduce. LT_REDUCE_AVG needs floating tensors. */
lt_error lt_dist_allreduce(lt_dist g, const lt_tensor* ts, int n, int op);

/* lt_dist_allreduce over the gradients of params (each must have one). */
lt_error lt_dist_allreduce_grads(lt_dist g, const lt_tensor* params, int n, int op);

/* Reduces n doubles over all ranks, in place: global statistics. */
lt_error lt_dist_allreduce_f64(lt_dist g, double* data, int n, int op);

lt_error lt_dist_barrier(lt_dist g);

#ifdef __cplusplus
}
#endif
#endif
