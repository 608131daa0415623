# How far can a plain predictor get from the features clevr-rel-v1 spells out?
# k-nearest neighbours over (relation, offset of the named pair, the pushed
# ball's position), trained on a dataset's train.jsonl direction pairs, scored
# on its first 1,500 held-out states as demos.Agrees does (the direction for
# the instruction's first-named ball; a state whose expert pushes another ball
# counts as a miss). Usage: python3 knn.py DATASET_DIR [FRACTION_OF_TRAIN]
import json, re, random, sys
D=sys.argv[1]
def relkey(rel):
    k=[w for w in ('left','right','front','ahead','back','behind') if w in rel][0]; return {'ahead':'front','back':'behind'}.get(k,k)
def parse(text):
    t=text.split('\n')
    m=re.match(r'(\w+) from (\w+): (\d+) (\w+) (\d+) (\w+)\.',t[2]) if len(t)>2 else None
    if not m: return None
    dx=int(m.group(3))*(1 if m.group(4)=='right' else -1); dy=int(m.group(5))*(1 if m.group(6)=='forward' else -1)
    absm=dict((b,(int(a)*(1 if d1=='right' else -1),int(c)*(1 if d2=='forward' else -1))) for b,a,d1,c,d2 in re.findall(r'(\w+) (\d+) (\w+) (\d+) (\w+)',t[1]))
    return relkey(t[0]),dx,dy,absm[m.group(2)],m.group(2)
L='ABCDEFGH'
train={}
n=0
for l in open(D+'/train.jsonl'):
    r=json.loads(l)
    if 'Direction?' not in r['prompt']: continue
    text=r['prompt'].split('\n\n')[0]; p=parse(text)
    pushed=re.search(r'Push (\w+)\. Direction',r['prompt']).group(1)
    if not p or pushed!=p[4]: continue
    train.setdefault(p[0],[]).append((p[1],p[2],p[3],L.index(r['answer'].strip())))
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
        best=set(b%8 for b in r['best'] if b//8==['red','blue','green','purple','cyan'].index(p[4]))
        k,dx,dy,a,_=p
        c=sorted(((dx-e[0])**2+(dy-e[1])**2+w*((a[0]-e[2][0])**2+(a[1]-e[2][1])**2),e[3]) for e in train[k])[:K]
        v={}
        for _,lab in c: v[lab]=v.get(lab,0)+1
        ok+=max(v,key=v.get) in best
    print('K',K,'w',w,'agreement (src ball dir)',round(ok/tot,3))
