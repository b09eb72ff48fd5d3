/**
 * `sm:<service>`: the service extension API and the example service. See README "Writing a service".
 */
export { checkServiceName, installService, type ServiceContext, type ServiceInbound, type ServiceSpec } from './service.ts';
export { sensorService, type Reading, type SensorMsg, type SensorOptions } from './sensor.ts';
