/**
 * A small key-value store in IndexedDB (structured clone: Uint8Array and objects as they are), one
 * database per page. A browser that refuses storage (some private modes) gets a store in memory: the
 * page still works, it just forgets on reload.
 */

export interface Store {
  get<T>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  readonly persistent: boolean;
}

const TABLE = "kv";

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error("IndexedDB request failed"));
  });
}

class IdbStore implements Store {
  readonly persistent = true;
  constructor(private readonly db: IDBDatabase) {}

  private table(mode: IDBTransactionMode): IDBObjectStore {
    return this.db.transaction(TABLE, mode).objectStore(TABLE);
  }

  async get<T>(key: string): Promise<T | undefined> {
    return (await request(this.table("readonly").get(key))) as T | undefined;
  }

  async set(key: string, value: unknown): Promise<void> {
    await request(this.table("readwrite").put(value, key));
  }

  async delete(key: string): Promise<void> {
    await request(this.table("readwrite").delete(key));
  }
}

class MemoryStore implements Store {
  readonly persistent = false;
  private readonly data = new Map<string, unknown>();
  async get<T>(key: string): Promise<T | undefined> {
    return this.data.get(key) as T | undefined;
  }
  async set(key: string, value: unknown): Promise<void> {
    this.data.set(key, value);
  }
  async delete(key: string): Promise<void> {
    this.data.delete(key);
  }
}

export async function openStore(name: string): Promise<Store> {
  try {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(TABLE);
    return new IdbStore(await request(open));
  } catch {
    return new MemoryStore();
  }
}
