// Stands in for the `debug` package: MQTT.js and mqtt-packet call `debug(namespace)` at load and log
// through the result; on a board that logging is always off, so every logger is a no-op.
function createDebug() {
  const log = function () {};
  log.enabled = false;
  log.extend = () => log;
  log.log = log;
  return log;
}
createDebug.enabled = () => false;
createDebug.enable = () => {};
createDebug.disable = () => '';
module.exports = createDebug;
