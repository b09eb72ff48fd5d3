/**
 * CONNACK refusals in words, as MQTT.js gives them (connect.ts `connectRefusal` adds the code), so a
 * hub's log and status read the same whichever client made the connection.
 */
const V4: Readonly<Record<number, string>> = {
  1: 'Unacceptable protocol version',
  2: 'Identifier rejected',
  3: 'Server unavailable',
  4: 'Bad username or password',
  5: 'Not authorized',
};

const V5: Readonly<Record<number, string>> = {
  0x80: 'Unspecified error',
  0x81: 'Malformed Packet',
  0x82: 'Protocol Error',
  0x83: 'Implementation specific error',
  0x84: 'Unsupported Protocol Version',
  0x85: 'Client Identifier not valid',
  0x86: 'Bad User Name or Password',
  0x87: 'Not authorized',
  0x88: 'Server unavailable',
  0x89: 'Server busy',
  0x8a: 'Banned',
  0x8c: 'Bad authentication method',
  0x95: 'Packet too large',
  0x97: 'Quota exceeded',
  0x9c: 'Use another server',
  0x9d: 'Server moved',
  0x9f: 'Connection rate exceeded',
};

/** "Connection refused: Not authorized (code 135)". */
export function connectRefusalReason(code: number, v5: boolean): string {
  return `Connection refused: ${(v5 ? V5 : V4)[code] ?? 'unknown reason'} (code ${code})`;
}
