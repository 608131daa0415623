# How far can a plain predictor get from the features clevr-rel-v1 spells out?
# k-nearest neighbours over (relation, offset of the named pair, the pushed
# ball's position), trained on a dataset's train.jsonl direction pairs, scored
# on its first 1,500 held-out states as demos.Agrees does (the direction for
# the instruction's first-named ball; a state whose expert pushes another ball
# counts as a miss). Usage: python3 knn.py DATASET_DIR [FRACTION_OF_TRAIN]
import json, sys
from relview import BALLS, LABELS, RELS, pair_offset, parse as parse_view, pushed_ball
D=sys.argv[1]
def parse(text):
    # (relation, the view's offset of the named pair, the earlier ball's position, the earlier ball)
    off = pair_offset(text)
    if not off: return None
    rel, pos, _, _ = parse_view(text)
    return RELS[rel], off[2], off[3], pos[off[1]], off[1]
train={}
n=0
for l in open(D+'/train.jsonl'):
    r=json.loads(l)
    if 'Direction?' not in r['prompt']: continue
    text=r['prompt'].split('\n\n')[0]; p=parse(text)
    pushed=pushed_ball(r['prompt'])
    if not p or pushed!=p[4]: continue
    train.setdefault(p[0],[]).append((p[1],p[2],p[3],LABELS.index(r["answer"].strip())))
    n+=1
frac=float(sys.argv[2]) if len(sys.argv)>2 else 1.0
for k in train: train[k]=train[k][:int(len(train[k])*frac)]
print('train',sum(len(v) for v in train.values()))
test=[json.loads(l) for l in open(D+'/heldout-states.jsonl')][:1500]
for K in (1,5,15):
  for w in (0.1,0.3):
    ok=tot=0
    for r in test:
        p=parse(r['text'])
        if not p: continue
        tot+=1
        best=set(b%8 for b in r['best'] if b//8==BALLS.index(p[4]))
        k,dx,dy,a,_=p
        c=sorted(((dx-e[0])**2+(dy-e[1])**2+w*((a[0]-e[2][0])**2+(a[1]-e[2][1])**2),e[3]) for e in train[k])[:K]
        v={}
        for _,lab in c: v[lab]=v.get(lab,0)+1
        ok+=max(v,key=v.get) in best
    print('K',K,'w',w,'agreement (src ball dir)',round(ok/tot,3))
