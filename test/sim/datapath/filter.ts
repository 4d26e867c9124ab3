// The part of pcap-filter(7) the simulated tcpdump understands: `host`, `src host`, `dst host`,
// `net`, `port`, `src port`, `dst port` (optionally after `tcp`/`udp`), `ip`, `ip6`, `tcp`,
// `udp`, `icmp`, `icmp6`, `ip proto N`, joined by and/&&, or/||, not/! and parentheses. Anything else is refused the way tcpdump refuses
// a filter it cannot compile, so a verifier filter outside this subset fails loudly instead of
// matching differently than the real tcpdump would.
import { parseAddr } from "./bytes";

export interface OuterHeader {
  family: 4 | 6;
  src: string;
  dst: string;
  proto: number;
  sport: number | null;
  dport: number | null;
}

export type Filter = (h: OuterHeader) => boolean;

export class FilterSyntaxError extends Error {}

function sameAddr(a: string, b: string): boolean {
  const x = parseAddr(a);
  const y = parseAddr(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function inNet(cidr: string, addr: string): boolean {
  const [base, bitsText] = cidr.split("/");
  const b = parseAddr(base!);
  const a = parseAddr(addr);
  if (a.length !== b.length) return false;
  let bits = bitsText === undefined ? b.length * 8 : Number(bitsText);
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i]! & mask) !== (b[i]! & mask)) return false;
  }
  return true;
}

function tokenize(text: string): string[] {
  return text.match(/\(|\)|&&|\|\||!|[^\s()!&|]+/g) ?? [];
}

export function compileFilter(text: string): Filter {
  const tokens = tokenize(text);
  if (tokens.length === 0) return () => true;
  let pos = 0;
  const peek = (): string | undefined => tokens[pos];
  const next = (): string => {
    const t = tokens[pos++];
    if (t === undefined) throw new FilterSyntaxError("syntax error");
    return t;
  };
  const address = (): string => {
    const t = next();
    try {
      parseAddr(t);
    } catch {
      throw new FilterSyntaxError(`unknown host '${t}'`);
    }
    return t;
  };
  const portNumber = (): number => {
    const t = next();
    if (!/^\d{1,5}$/.test(t) || Number(t) > 65535) throw new FilterSyntaxError(`illegal port number ${t}`);
    return Number(t);
  };
  const l4 =
    (proto: number): Filter =>
    (h) =>
      h.proto === proto;

  const primitive = (): Filter => {
    // `tcp port 80`, `udp dst port 53`: a protocol qualifier in front of a port primitive.
    const t0 = peek();
    if ((t0 === "tcp" || t0 === "udp") && ["port", "src", "dst"].includes(tokens[pos + 1] ?? "")) {
      next();
      const proto = t0 === "tcp" ? 6 : 17;
      const p = primitive();
      return (h) => h.proto === proto && p(h);
    }
    const t = next();
    const dir = t === "src" || t === "dst" ? t : null;
    const kind = dir ? next() : t;
    switch (kind) {
      case "host": {
        const a = address();
        if (dir === "src") return (h) => sameAddr(h.src, a);
        if (dir === "dst") return (h) => sameAddr(h.dst, a);
        return (h) => sameAddr(h.src, a) || sameAddr(h.dst, a);
      }
      case "net": {
        const c = next();
        try {
          parseAddr(c.split("/")[0]!);
        } catch {
          throw new FilterSyntaxError(`invalid net ${c}`);
        }
        if (dir === "src") return (h) => inNet(c, h.src);
        if (dir === "dst") return (h) => inNet(c, h.dst);
        return (h) => inNet(c, h.src) || inNet(c, h.dst);
      }
      case "port": {
        const p = portNumber();
        const ported = (h: OuterHeader): boolean => h.proto === 6 || h.proto === 17;
        if (dir === "src") return (h) => ported(h) && h.sport === p;
        if (dir === "dst") return (h) => ported(h) && h.dport === p;
        return (h) => ported(h) && (h.sport === p || h.dport === p);
      }
    }
    if (dir) throw new FilterSyntaxError("syntax error");
    switch (kind) {
      case "ip":
        if (peek() === "proto") {
          next();
          const n = next();
          if (!/^\d{1,3}$/.test(n)) throw new FilterSyntaxError(`unknown ip proto '${n}'`);
          return (h) => h.family === 4 && h.proto === Number(n);
        }
        return (h) => h.family === 4;
      case "ip6":
        return (h) => h.family === 6;
      case "tcp":
        return l4(6);
      case "udp":
        return l4(17);
      case "icmp":
        return (h) => h.family === 4 && h.proto === 1;
      case "icmp6":
        return (h) => h.family === 6 && h.proto === 58;
    }
    throw new FilterSyntaxError("syntax error");
  };

  const factor = (): Filter => {
    const t = peek();
    if (t === "not" || t === "!") {
      next();
      const f = factor();
      return (h) => !f(h);
    }
    if (t === "(") {
      next();
      const f = expr();
      if (next() !== ")") throw new FilterSyntaxError("syntax error");
      return f;
    }
    return primitive();
  };
  const term = (): Filter => {
    let f = factor();
    while (peek() === "and" || peek() === "&&") {
      next();
      const left = f;
      const right = factor();
      f = (h) => left(h) && right(h);
    }
    return f;
  };
  const expr = (): Filter => {
    let f = term();
    while (peek() === "or" || peek() === "||") {
      next();
      const left = f;
      const right = term();
      f = (h) => left(h) || right(h);
    }
    return f;
  };

  const f = expr();
  if (pos !== tokens.length) throw new FilterSyntaxError("syntax error");
  return f;
}
