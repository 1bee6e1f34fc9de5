// The REST / WebSocket predict body, parsed for a model: {entities: {<entity>: id},
// fields: {<field>: number}} -> the ids (UTF-8 lengths known) and field values in the
// model's record order. (Moved out of the runtime; the predict pipeline owns it.)
import { HotpathError } from '../errors.js';
import { limits } from '../native/binding.js';
import type { ParsedPredict } from '../runtime/inference.js';
import type { ModelEntry } from '../runtime/registry.js';

export function parsePredict(e: ModelEntry, body: unknown): ParsedPredict {
  const def = e.def;
  if (!def.inputs)
    throw new HotpathError('HP_ERR_PREDICT_INVALID', `model '${def.name}' has no inputs: list in the config; send tensors to /v2/models/${def.name}/infer`);
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HotpathError('HP_ERR_PREDICT_INVALID', 'the body must be a JSON object {"entities": {...}, "fields": {...}}');
  const b = body as { entities?: unknown; fields?: unknown };
  const ents = (b.entities ?? {}) as Record<string, unknown>;
  const flds = (b.fields ?? {}) as Record<string, unknown>;
  if (typeof ents !== 'object' || Array.isArray(ents)) throw new HotpathError('HP_ERR_PREDICT_INVALID', '`entities` must be an object of entity -> id');
  if (typeof flds !== 'object' || Array.isArray(flds)) throw new HotpathError('HP_ERR_PREDICT_INVALID', '`fields` must be an object of field -> number');
  const ids: string[] = [];
  const idBytes: number[] = [];
  for (const k of def.keys) {
    const v = ents[k.entity];
    let id: string | undefined;
    if (typeof v === 'string') id = v;
    else if (typeof v === 'number' && Number.isSafeInteger(v)) id = String(v);
    if (id === undefined) throw new HotpathError('HP_ERR_PREDICT_INVALID', `model '${def.name}' needs entities.${k.entity}: a string id or an integer`);
    const n = Buffer.byteLength(id);
    if (n === 0 || n > limits.maxIdBytes) throw new HotpathError('HP_ERR_ID_INVALID', `entities.${k.entity}: an entity id must be 1..${limits.maxIdBytes} UTF-8 bytes`);
    ids.push(id);
    idBytes.push(n);
  }
  const fields: number[] = [];
  for (const f of def.fields) {
    const v = flds[f];
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new HotpathError('HP_ERR_PREDICT_INVALID', `model '${def.name}' needs fields.${f}: a finite number`);
    fields.push(v);
  }
  return { ids, idBytes, fields };
}
