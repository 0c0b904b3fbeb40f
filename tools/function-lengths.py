#!/usr/bin/env python3
"""Counts the lines of every Rust function under a folder, from its `fn`
line to its closing brace (strings, characters and comments blanked first,
so braces inside them do not count), and prints how many are over 60 and
over 100 lines, then the longest.

    python3 tools/function-lengths.py crates [N]

Issue #15 measures "functions over 60 lines" and "over 100" with it; test
functions count too.
"""
import os
import re
import sys
def blank(src):
    # replace contents of strings, chars, comments with spaces (keep newlines)
    out=[];i=0;n=len(src)
    while i<n:
        c=src[i]
        if src.startswith('//',i):
            j=src.find('\n',i); j=n if j<0 else j
            out.append(' '*(j-i)); i=j; continue
        if src.startswith('/*',i):
            j=src.find('*/',i+2); j=n if j<0 else j+2
            out.append(re.sub(r'[^\n]',' ',src[i:j])); i=j; continue
        m=re.match(r'b?r(#*)"',src[i:i+10])
        if m and (i==0 or not (src[i-1].isalnum() or src[i-1]=='_')):
            hashes=m.group(1); end='"'+hashes
            j=src.find(end,i+len(m.group(0))); j=n if j<0 else j+len(end)
            out.append(re.sub(r'[^\n]',' ',src[i:j])); i=j; continue
        if c=='"':
            j=i+1
            while j<n and src[j]!='"':
                j+= 2 if src[j]=='\\' else 1
            j+=1
            out.append(re.sub(r'[^\n]',' ',src[i:j])); i=j; continue
        if c=="'":
            m=re.match(r"'(\\.[^']*|[^\\'])'",src[i:i+12])
            if m:
                out.append(' '*len(m.group(0))); i+=len(m.group(0)); continue
        out.append(c); i+=1
    return ''.join(out)
res=[]
for root,_,files in os.walk(sys.argv[1]):
    for f in files:
        if not f.endswith('.rs'): continue
        p=os.path.join(root,f)
        text=blank(open(p,encoding='utf-8',errors='replace').read())
        lines=text.split('\n')
        for i,l in enumerate(lines):
            m=re.match(r'\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)',l)
            if not m: continue
            depth=0;started=False;j=i
            while j<len(lines):
                s=lines[j]
                if not started and ';' in s and '{' not in s: break
                for ch in s:
                    if ch=='{': depth+=1;started=True
                    elif ch=='}': depth-=1
                    if started and depth==0: break
                if started and depth<=0: break
                j+=1
            if started: res.append((j-i+1,p,i+1,m.group(6)))
res.sort(reverse=True)
print("over60",len([r for r in res if r[0]>60]),"over100",len([r for r in res if r[0]>100]))
k=int(sys.argv[2]) if len(sys.argv)>2 else 50
for r in res[:k]: print(*r)
