/**
 * The door to `dashboard/`: `dominion dashboard`'s HTTP server (docs/DASHBOARD.md for the API,
 * docs/ARCHITECTURE.md "The dashboard" for how it keeps 100,000 devices cheap). The page itself
 * lives in dashboard/page/ and is only served from here.
 */
export { Dashboard, loopbackHosts, type DashboardOptions } from './server.ts';
export { isLoopback, parseListen, startDashboard, type DashboardHandle, type StartDashboardOptions } from './start.ts';
export { openSources } from './open.ts';
export { SqliteSource } from './sqlite-source.ts';
export type { HubSource } from './source.ts';
export { CSP } from './http.ts';
export { FleetIndex, type DeviceQuery, type DevicePage } from './fleet-index.ts';
