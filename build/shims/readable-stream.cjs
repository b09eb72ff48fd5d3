// Stands in for `readable-stream`, the userland copy of Node's streams that MQTT.js, mqtt-packet and
// bl use so they also run in browsers. On Node, its own `stream` module is the same API.
module.exports = require('node:stream');
