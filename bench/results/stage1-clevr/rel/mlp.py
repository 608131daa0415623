# Is agreement limited by the text or by the data? A plain function fitter on the
# features clevr-rel-v1 spells out, at growing data sizes: a 2-layer MLP (256 wide)
# over the relation, the pushed ball's position, the destination and the three other
# balls seen from the pushed ball (nearest first), trained on a dataset's direction
# pairs where the pushed ball is the instruction's first-named one, scored on the
# held-out states as demos.Agrees does (the direction for the first-named ball must
# be in the expert's best set; a state whose expert pushes another ball is a miss).
# Usage: /usr/bin/python3 mlp.py DATASET_DIR [FRACTION_OF_TRAIN [EPOCHS [FEATURES]]]
# FEATURES: all (default) or pair (without the three other balls: what the collisions add).
# (Debian's python3-torch, CPU; seed 0; Adam 1e-3 with cosine decay; prints agreement every 25
# epochs and at the last.)
import json, sys, torch
from relview import BALLS, LABELS, parse, pushed_ball

D = sys.argv[1]
frac = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 100
with_others = {'all': True, 'pair': False}[sys.argv[4] if len(sys.argv) > 4 else 'all']
torch.set_num_threads(1)


def features(text, pushed):
    r, pos, src, dst = parse(text)
    if pushed != src:
        return None
    rel = [0.0] * 4
    rel[r] = 1.0
    s, d = pos[src], pos[dst]
    f = rel + [s[0] / 50, s[1] / 50, (d[0] - s[0]) / 50, (d[1] - s[1]) / 50]
    others = sorted((pos[b] for b in BALLS if b not in (src, dst)),
                    key=lambda p: (p[0] - s[0]) ** 2 + (p[1] - s[1]) ** 2)
    for o in others if with_others else []:
        f += [(o[0] - s[0]) / 50, (o[1] - s[1]) / 50]
    return f

X, Y = [], []
for line in open(D + '/train.jsonl'):
    r = json.loads(line)
    if 'Direction?' not in r['prompt']:
        continue
    pushed = pushed_ball(r['prompt'])
    f = features(r['prompt'].split('\n\n')[0], pushed)
    if f is not None:
        X.append(f)
        Y.append(LABELS.index(r['answer'].strip()))
n = int(len(X) * frac)
X, Y = torch.tensor(X[:n]), torch.tensor(Y[:n])
TX, best = [], []
for line in open(D + '/heldout-states.jsonl'):
    r = json.loads(line)
    src = parse(r['text'])[2]
    TX.append(features(r['text'], src))
    best.append({b % 8 for b in r['best'] if b // 8 == BALLS.index(src)})
TX = torch.tensor(TX)
print('train', len(X), 'held-out states', len(TX), flush=True)
torch.manual_seed(0)
m = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 256), torch.nn.ReLU(),
                        torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 8))
opt = torch.optim.Adam(m.parameters(), 1e-3, weight_decay=1e-5)
# cosine decay to 0 over the epochs, so the last epoch's figure is the run's (no picking the best epoch on held-out data)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
for ep in range(epochs):
    perm = torch.randperm(len(X))
    for i in range(0, len(X), 256):
        idx = perm[i:i + 256]
        loss = torch.nn.functional.cross_entropy(m(X[idx]), Y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    sched.step()
    if ep % 25 == 24 or ep == epochs - 1:
        with torch.no_grad():
            p = m(TX).argmax(1).tolist()
        print('epoch', ep + 1, 'agreement', round(sum(a in b for a, b in zip(p, best)) / len(best), 3), flush=True)
