import t from 'tap'
import { MemoryStore } from '../../src/chat/memory-store.js'
import { storeContract } from './store-contract.js'

storeContract(t, async (historyLimit) => new MemoryStore(historyLimit))
