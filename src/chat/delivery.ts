// Until every importer names the delivery module it uses (see src/chat/delivery/).
export { BURST, Deliverer, type DelivererOptions, HOLD_MAX_MS, QUIET_WINDOWS } from './delivery/coalescer.js'
export { bufferedBytes, type WebSocketTransportSocket, webSocketOf } from './delivery/engine-internals.js'
export { captureTrace } from './delivery/room-writer.js'
