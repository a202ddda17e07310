/**
 * /_ping, /version and /info (moby v28.5.2 api/server/router/system/system_routes.go).
 * The docker CLI negotiates its API version from /_ping's `Api-Version` header
 * (docs/notes/kernel-facts.md#docker-api-version-negotiation): without it the client falls back to 1.24.
 */
import { arch, cpus, hostname, release, totalmem } from 'node:os';
import type { Engine, EngineInfo } from '../engine/types.js';
import { MAX_API_VERSION, MIN_API_VERSION } from './api-version.js';
import { empty, json, text, type RouteHandler, type RouteTable } from './http-context.js';

export interface VersionInfo {
  /** Switchyard's version (package.json). */
  version: string;
  gitCommit?: string;
  buildTime?: string;
}

/** Go's GOARCH names, which is what Docker reports. */
const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };

export function addSystemRoutes(routes: RouteTable, engine: Engine, version: VersionInfo): void {
  const ping: RouteHandler = {
    async handle(ctx) {
      ctx.res.setHeader('Swarm', 'inactive');
      ctx.res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
      ctx.res.setHeader('Pragma', 'no-cache');
      return ctx.method === 'HEAD' ? empty(200) : text(200, 'OK');
    },
  };
  routes.add('GET', '/_ping', ping);
  routes.add('HEAD', '/_ping', ping);

  routes.add('GET', '/version', {
    async handle() {
      const kernelVersion = await engine.info().then(
        (i) => i.kernelVersion,
        () => release(),
      );
      return json(200, versionView(version, kernelVersion));
    },
  });

  routes.add('GET', '/info', {
    async handle() {
      return json(200, infoView(await engine.info(), version));
    },
  });
}

function versionView(version: VersionInfo, kernelVersion: string): unknown {
  const details = {
    ApiVersion: MAX_API_VERSION,
    Arch: GO_ARCH[arch()] ?? arch(),
    BuildTime: version.buildTime ?? '',
    Experimental: 'false',
    GitCommit: version.gitCommit ?? '',
    GoVersion: `node ${process.version}`,
    KernelVersion: kernelVersion,
    MinAPIVersion: MIN_API_VERSION,
    Os: 'linux',
  };
  return {
    Platform: { Name: 'Switchyard' },
    Components: [{ Name: 'Engine', Version: version.version, Details: details }],
    Version: version.version,
    ApiVersion: MAX_API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: version.gitCommit ?? '',
    GoVersion: `node ${process.version}`,
    Os: 'linux',
    Arch: GO_ARCH[arch()] ?? arch(),
    ...(kernelVersion ? { KernelVersion: kernelVersion } : {}),
    BuildTime: version.buildTime ?? '',
  };
}

/** Docker's system.Info, with what applies filled in and the rest at safe zero values. */
function infoView(info: EngineInfo, version: VersionInfo): unknown {
  return {
    ID: info.id,
    Containers: info.sandboxes,
    ContainersRunning: info.running,
    ContainersPaused: 0,
    ContainersStopped: info.sandboxes - info.running,
    Images: 0,
    Driver: '',
    DriverStatus: [],
    Plugins: { Volume: [], Network: [...info.networkDrivers], Authorization: null, Log: [] },
    MemoryLimit: false,
    SwapLimit: false,
    CpuCfsPeriod: false,
    CpuCfsQuota: false,
    CPUShares: false,
    CPUSet: false,
    PidsLimit: false,
    IPv4Forwarding: true,
    Debug: false,
    NFd: 0,
    OomKillDisable: false,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: 'json-file',
    CgroupDriver: '',
    CgroupVersion: '',
    NEventsListener: 0,
    KernelVersion: info.kernelVersion,
    OperatingSystem: 'linux',
    OSVersion: '',
    OSType: 'linux',
    Architecture: arch() === 'x64' ? 'x86_64' : arch(),
    IndexServerAddress: '',
    RegistryConfig: { InsecureRegistryCIDRs: [], IndexConfigs: {}, Mirrors: [] },
    NCPU: cpus().length,
    MemTotal: totalmem(),
    GenericResources: null,
    DockerRootDir: info.dataRoot,
    HttpProxy: '',
    HttpsProxy: '',
    NoProxy: '',
    Name: info.name || hostname(),
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: version.version,
    Runtimes: {},
    DefaultRuntime: '',
    Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    // Docker 1.9–20.10's cluster-store fields ("" on a single host).
    ClusterStore: info.cluster?.store ?? '',
    ClusterAdvertise: info.cluster?.advertise ?? '',
    LiveRestoreEnabled: true,
    Isolation: '',
    InitBinary: '',
    ContainerdCommit: { ID: '' },
    RuncCommit: { ID: '' },
    InitCommit: { ID: '' },
    SecurityOptions: [],
    Warnings: info.warnings,
    // Switchyard's own, after Docker's fields.
    Networks: info.networks,
    ExecRoot: info.execRoot,
    Firewall: info.firewall,
    ...(info.cluster ? { Cluster: { NodeID: info.cluster.nodeId, NodeName: info.cluster.nodeName } } : {}),
  };
}
