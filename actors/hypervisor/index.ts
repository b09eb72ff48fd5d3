/**
 * `hypervisor`: the proxy (the only door between `mm` and the AWDTs), one software AWDT per VM domain,
 * the inspector that writes each VM's runtime report, and VM lifecycle. It never reaches the network.
 */
export { Inspector, type VmFacts } from './inspector.ts';
export { proxyActor, type ProxyCounters, type ProxyMsg, type ProxyOptions } from './proxy.ts';
export { VmHost, vmHostActor, type VmDefinition, type VmEvent, type VmHostMsg, type VmHostOptions, type VmImage } from './vm-host.ts';
