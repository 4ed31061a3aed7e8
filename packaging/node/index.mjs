// The ESM entry: the same functions as index.js.
import cjs from './index.js';

export const { start, binary } = cjs;
export default cjs;
