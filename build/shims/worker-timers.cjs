// Stands in for `worker-timers`: MQTT.js uses it only in browsers (to keep timers running in a
// background tab); under Node it keeps the global timers, which is what this gives it.
module.exports = {
  setInterval: globalThis.setInterval,
  clearInterval: globalThis.clearInterval,
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
};
