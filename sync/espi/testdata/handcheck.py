# Independent check of ESPI fixtures: per MeterReading, distinct reading starts (later wins),
# sum of value x 10^pow10 and sum of cost / 1e5, using Decimal arithmetic.
import sys, xml.etree.ElementTree as ET
from decimal import Decimal
A='{http://www.w3.org/2005/Atom}'; E='{http://naesb.org/espi}'
def strip_ib(h):
    i=h.rfind('/IntervalBlock')
    return h[:i] if i>=0 else h
for f in sys.argv[1:]:
    root=ET.parse(f).getroot()
    entries=root.iter(A+'entry')  # Atom entries, matched by namespace URI
    rts={}; mrs={}; blocks=[]
    for e in entries:
        links={}
        rel=[]
        for l in e.findall(A+'link'):
            r=l.get('rel'); h=l.get('href').strip()
            if r=='related': rel.append(h)
            else: links.setdefault(r,h)
        c=e.find(A+'content')
        if c is None: continue
        for res in c:
            tag=res.tag
            if tag==E+'ReadingType':
                p=res.find(E+'powerOfTenMultiplier')
                rts[links['self'].rstrip('=')]=int(p.text.strip()) if p is not None and p.text else 0
            elif tag==E+'MeterReading':
                rt=[h for h in rel if '/ReadingType/' in h or h.startswith('ReadingType/')]
                mrs[links['self']]=rt[0].rstrip('=') if rt else None
            elif tag==E+'IntervalBlock':
                mr=strip_ib(links.get('up') or links.get('self'))
                for ir in res.findall(E+'IntervalReading'):
                    st=int(ir.find(E+'timePeriod').find(E+'start').text.strip().split('.')[0])
                    v=ir.find(E+'value'); co=ir.find(E+'cost')
                    blocks.append((mr,st,Decimal(v.text.strip()),Decimal(co.text.strip()) if co is not None else None))
    per={}
    for mr,st,v,co in blocks:
        pw=rts.get(mrs.get(mr) or '',0)
        per.setdefault(mr,{})[st]=(v.scaleb(pw), co/Decimal(100000) if co is not None else None)
    print('==',f)
    for mr,d in per.items():
        vs=sum(x[0] for x in d.values()); cs=sum(x[1] for x in d.values() if x[1] is not None)
        print(' ', mr, 'count',len(d),'sum',vs,'cost',cs, 'first',min(d),'last',max(d))
