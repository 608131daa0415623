#!/usr/bin/env python3
"""CleanRL-style PPO update in PyTorch: the reference `lago bench -reference` runs.

It times what lago's update does, written as CleanRL's ppo.py /
ppo_continuous_action.py write it: separate tanh actor and critic MLPs with
orthogonal init, update_epochs epochs of num_minibatches shuffled minibatches,
the clipped surrogate, the clipped value loss, the entropy bonus, optionally
LaGO's β·KL(π‖p) to a fixed prior over discrete actions (masked mean over the
samples that have a prior), backward, clip_grad_norm_ and Adam (eps 1e-5).
The rollout is synthetic (random observations and advantages, actions drawn
from the policy): the update's cost does not depend on the values.

It prints one JSON object: samples/s (minibatch samples through forward,
backward and Adam per second) at each thread count tried, and the best;
and the process's CPU time per sample (every thread's), which a loaded
machine disturbs less than wall time.

torch.set_num_threads does not reach OpenBLAS (Debian's torch runs its
float GEMMs there), whose pthread pool keeps one thread per core. So at
each torch thread count the update is timed twice where OpenBLAS is found:
with OpenBLAS's own thread count and with OpenBLAS at the torch count (what
lago's fused step does); the faster counts.

    python3 bench/reference/ppo_update.py -shape clevr-lago -threads 1,2 -duration 5

Needs python3 with torch (on Debian: apt-get install python3-torch, the same
libtorch 1.13 lago links). Nothing in lago's build or CI requires it.
"""

import argparse
import json
import os
import sys
import time

try:
    import torch
    import torch.nn as nn
except ImportError:
    print(json.dumps({"error": "no torch: install python3-torch (Debian) or pip install torch"}))
    sys.exit(3)

# The shapes of lago's shipped configs (configs/*.toml; see engine/bench).
SHAPES = {
    # obs_dim, actions (discrete n, or 0 with act_dim), hidden, num_envs, num_steps,
    # num_minibatches, update_epochs, beta (KL to a prior; 0: none)
    "cartpole": dict(obs_dim=4, n=2, act_dim=0, hidden=[64, 64], num_envs=8, num_steps=32,
                     num_minibatches=4, update_epochs=20, beta=0.0),
    "pendulum": dict(obs_dim=3, n=0, act_dim=1, hidden=[64, 64], num_envs=4, num_steps=512,
                     num_minibatches=32, update_epochs=10, beta=0.0),
    "clevr-lago": dict(obs_dim=24, n=40, act_dim=0, hidden=[128, 128], num_envs=16, num_steps=64,
                       num_minibatches=16, update_epochs=10, beta=0.1),
}


def layer_init(layer, std=2 ** 0.5):
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, 0.0)
    return layer


def mlp(sizes, out_std):
    layers = []
    for i in range(len(sizes) - 1):
        last = i + 2 == len(sizes)
        layers.append(layer_init(nn.Linear(sizes[i], sizes[i + 1]), out_std if last else 2 ** 0.5))
        if not last:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class Agent(nn.Module):
    def __init__(self, s):
        super().__init__()
        out = s["n"] if s["n"] else s["act_dim"]
        self.critic = mlp([s["obs_dim"]] + s["hidden"] + [1], 1.0)
        self.actor = mlp([s["obs_dim"]] + s["hidden"] + [out], 0.01)
        self.discrete = s["n"] > 0
        if not self.discrete:
            self.actor_logstd = nn.Parameter(torch.zeros(1, out))

    def get_value(self, x):
        return self.critic(x)

    def get_action_and_value(self, x, action=None):
        if self.discrete:
            logits = self.actor(x)
            probs = torch.distributions.Categorical(logits=logits)
            if action is None:
                action = probs.sample()
            return action, probs.log_prob(action), probs.entropy(), self.critic(x), probs.logits
        mean = self.actor(x)
        std = self.actor_logstd.expand_as(mean).exp()
        probs = torch.distributions.Normal(mean, std)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action).sum(1), probs.entropy().sum(1), self.critic(x), None


def openblas_setter():
    """openblas_set_num_threads of the OpenBLAS torch loaded, or None."""
    try:
        import ctypes
        return ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads
    except (OSError, AttributeError):
        return None


def run(shape, threads, duration, seed):
    """samples/s and CPU-ns per sample of the update at this thread count."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    s = SHAPES[shape]
    batch = s["num_envs"] * s["num_steps"]
    mb_size = batch // s["num_minibatches"]
    clip_coef, ent_coef, vf_coef, max_grad_norm = 0.2, 0.01, 0.5, 0.5
    agent = Agent(s)
    optimizer = torch.optim.Adam(agent.parameters(), lr=2.5e-4, eps=1e-5)

    obs = torch.randn(batch, s["obs_dim"])
    with torch.no_grad():
        actions, logprobs, _, values, _ = agent.get_action_and_value(obs)
    values = values.flatten()
    advantages = torch.randn(batch)
    returns = values + advantages
    if s["beta"]:
        log_prior = torch.log_softmax(torch.randn(batch, s["n"]), dim=1)
        prior_mask = torch.ones(batch)

    def update():
        b_inds = torch.randperm(batch).numpy()
        clipfracs = []
        for _ in range(s["update_epochs"]):
            b_inds = b_inds[torch.randperm(batch).numpy()]
            for start in range(0, batch, mb_size):
                mb = b_inds[start:start + mb_size]
                _, newlogprob, entropy, newvalue, logits = agent.get_action_and_value(obs[mb], actions[mb])
                logratio = newlogprob - logprobs[mb]
                ratio = logratio.exp()
                with torch.no_grad():
                    old_approx_kl = (-logratio).mean()
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs += [((ratio - 1.0).abs() > clip_coef).float().mean().item()]
                mb_adv = advantages[mb]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                pg_loss1 = -mb_adv * ratio
                pg_loss2 = -mb_adv * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
                pg_loss = torch.max(pg_loss1, pg_loss2).mean()
                newvalue = newvalue.view(-1)
                v_loss_unclipped = (newvalue - returns[mb]) ** 2
                v_clipped = values[mb] + torch.clamp(newvalue - values[mb], -clip_coef, clip_coef)
                v_loss_clipped = (v_clipped - returns[mb]) ** 2
                v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
                entropy_loss = entropy.mean()
                loss = pg_loss - ent_coef * entropy_loss + v_loss * vf_coef
                if s["beta"]:
                    # LaGO: reverse KL(π‖p) per sample, mean over the samples with a prior.
                    log_pi = logits  # Categorical's normalised logits
                    kl = (log_pi.exp() * (log_pi - log_prior[mb])).sum(1)
                    m = prior_mask[mb]
                    loss = loss + s["beta"] * (kl * m).sum() / m.sum().clamp(min=1)
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), max_grad_norm)
                optimizer.step()
                # lago reads its logged figures every minibatch too.
                _ = (pg_loss.item(), v_loss.item(), entropy_loss.item(), old_approx_kl.item(), approx_kl.item())

    update()  # warm-up, not timed
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        update()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= duration:
            break
    samples = n * batch * s["update_epochs"]
    return samples / elapsed, (time.process_time() - cpu) * 1e9 / samples


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-shape", choices=sorted(SHAPES), required=True)
    ap.add_argument("-spec", default="",
                    help="JSON object overriding the shape's fields (lago bench passes its configs' values)")
    ap.add_argument("-threads", default="1,%d" % (os.cpu_count() or 1),
                    help="comma-separated torch thread counts to try; the best is reported")
    ap.add_argument("-duration", type=float, default=3.0, help="seconds timed per thread count")
    ap.add_argument("-seed", type=int, default=1)
    a = ap.parse_args()
    if a.spec:
        SHAPES[a.shape] = dict(SHAPES[a.shape], **json.loads(a.spec))
    counts = sorted({int(t) for t in a.threads.split(",") if t.strip()})
    if not counts or min(counts) < 1:
        ap.error("-threads: want positive integers, e.g. 1,2")
    per, cpu, blas = {}, {}, {}
    set_blas = openblas_setter()
    for t in counts:
        variants = [None] + ([t] if set_blas and t != (os.cpu_count() or 1) else [])
        for b in variants:
            if b is not None:
                set_blas(b)
            rate, ns = run(a.shape, t, a.duration, a.seed)
            if b is not None:
                set_blas(os.cpu_count() or 1)  # OpenBLAS's default: one per core
            k = str(t)
            if rate > per.get(k, 0):
                per[k], blas[k] = rate, "torch" if b is not None else "own"
            cpu[k] = min(cpu.get(k, ns), ns)
    best = max(per, key=per.get)
    print(json.dumps({
        "shape": a.shape,
        "spec": SHAPES[a.shape],
        "torch": torch.__version__,
        "samples_per_s": per[best],
        "threads": int(best),
        "per_threads": per,
        "openblas_threads": blas,
        "cpu_ns_per_sample": min(cpu.values()),
        "cpu_ns_per_sample_per_threads": cpu,
    }))


if __name__ == "__main__":
    main()
