
/** Where Redis is: one node (URL), a Cluster, or a primary that Sentinels watch. */
export type RedisTopology =
  | { readonly kind: 'single'; readonly url: string }
  | { readonly kind: 'cluster'; readonly nodes: readonly HostPort[]; readonly password?: string; readonly tls: boolean }
  | {
      readonly kind: 'sentinel';
      readonly sentinels: readonly HostPort[];
      readonly name: string;
      readonly password?: string;
      readonly tls: boolean;
    };

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Where the topology points, for logs and errors: `redis://host:port/db`, never a password. */
export function describeTopology(topology: RedisTopology): string {
  switch (topology.kind) {
    case 'single':
      return `redis single ${withoutCredentials(topology.url)}`;
    case 'sentinel':
      return `redis sentinel ${topology.name} via ${hostPorts(topology.sentinels)}`;
    case 'cluster':
      return `redis cluster ${hostPorts(topology.nodes)}`;
  }
}

function hostPorts(list: readonly HostPort[]): string {
  return list.map(({ host, port }) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`)).join(',');
}

function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}
