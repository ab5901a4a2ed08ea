#!/usr/bin/env python3
"""Draws the `crate::`/`super::`/`self::` import graph between the files of a crate's src/
and reports cycles (strongly connected components with more than one file); exits 1 when
there is one. `.ci/run` runs it on serve/src, whose parts must not import each other in a
circle (the gateway is a facade over them).

    python3 scripts/module-cycles.py serve/src [-v]   # -v: print every edge
"""
import os, re, sys
root = sys.argv[1] if len(sys.argv) > 1 else 'serve/src'
files = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'):
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)[:-3]
            parts = rel.split(os.sep)
            if parts[-1] == 'mod': parts = parts[:-1]
            if parts == ['lib']: parts = []
            files[tuple(parts)] = os.path.relpath(p, root)
reexp = {}
def load_reexports():
    src = open(os.path.join(root, 'lib.rs')).read()
    src = re.sub(r'//[^\n]*', '', src)
    for m in re.finditer(r'\bpub\s+use\s+([^;]+);', src):
        for p in expand(m.group(1)):
            if p and p[0] == 'crate': p = p[1:]
            if p: reexp[p[-1]] = p
def module_file(path):
    if len(path) >= 1 and path[0] in reexp and tuple(path[:1]) not in files:
        path = reexp[path[0]] + path[1:]
    # longest prefix that is a file
    for n in range(len(path), -1, -1):
        if tuple(path[:n]) in files: return files[tuple(path[:n])]
def strip_tests(src):
    i = src.find('#[cfg(test)]')
    return src if i < 0 else src[:i]
def expand(tree):
    # crude brace expansion of a use tree into paths
    tree = re.sub(r'\s+as\s+\w+', '', tree)
    tree = re.sub(r'\s+', '', tree)
    def rec(prefix, t):
        out = []
        depth = 0; start = 0; items = []
        for i, c in enumerate(t):
            if c == '{': depth += 1
            elif c == '}': depth -= 1
            elif c == ',' and depth == 0:
                items.append(t[start:i]); start = i + 1
        items.append(t[start:])
        for it in items:
            if not it: continue
            m = re.match(r'^([^{]*?)(::)?\{(.*)\}$', it)
            if m:
                out += rec(prefix + [x for x in m.group(1).split('::') if x], m.group(3))
            else:
                out.append(prefix + [x for x in it.split(' as ')[0].split('as')[0].split('::') if x] if False else prefix + [x for x in re.split(r'as\b', it)[0].split('::') if x])
        return out
    return rec([], tree)
load_reexports()
edges = {}
for mod, f in files.items():
    src = strip_tests(open(os.path.join(root, f)).read())
    src = re.sub(r'//[^\n]*', '', src)
    deps = set()
    paths = []
    for m in re.finditer(r'\buse\s+([^;]+);', src):
        paths += expand(m.group(1))
    for m in re.finditer(r'(?<![\w:])((?:crate|super|self)(?:::\w+)+)', src):
        paths.append(m.group(1).split('::'))
    here0 = list(mod)
    kids = {k[len(here0)] for k in files if len(k) == len(here0) + 1 and list(k[:len(here0)]) == here0} if (f.endswith('mod.rs') or f == 'lib.rs') else set()
    for m in re.finditer(r'(?<![\w:])((\w+)(?:::\w+)+)', src):
        if m.group(2) in kids: paths.append(['self'] + m.group(1).split('::'))
    for m in re.finditer(r'\buse\s+([^;]+);', src):
        for p in expand(m.group(1)):
            if p and p[0] in kids: paths.append(['self'] + p)
    is_modrs = f.endswith('mod.rs') or f == 'lib.rs'
    here = list(mod)
    for p in paths:
        if not p: continue
        if p[0] == 'crate': full = p[1:]
        elif p[0] == 'super':
            base = here
            q = p
            while q and q[0] == 'super':
                base = base[:-1]; q = q[1:]
            full = base + q
        elif p[0] == 'self':
            full = here + p[1:]
        else: continue
        t = module_file(full)
        if t and t != f:
            deps.add(t)
            if '-d' in sys.argv and t == 'lib.rs': print('DBG', f, p)
    edges[f] = deps
# Tarjan SCC
index = {}; low = {}; stack = []; on = set(); sccs = []; i = [0]
sys.setrecursionlimit(10000)
def sc(v):
    index[v] = low[v] = i[0]; i[0] += 1; stack.append(v); on.add(v)
    for w in edges.get(v, ()):
        if w not in index: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = stack.pop(); on.discard(w); c.append(w)
            if w == v: break
        sccs.append(c)
for v in sorted(edges):
    if v not in index: sc(v)
if '-v' in sys.argv:
    for f in sorted(edges):
        print(f, '->', ', '.join(sorted(edges[f])))
cyc = [sorted(c) for c in sccs if len(c) > 1]
print('files:', len(edges), 'edges:', sum(len(e) for e in edges.values()))
print('cycles:', len(cyc))
for c in cyc: print('  ', ' <-> '.join(c))
sys.exit(1 if cyc else 0)
