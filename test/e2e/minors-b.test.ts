/** Half of the supported minors' matrix (minorMatrix.ts); the other half runs beside it. */
import { minorMatrix } from "./minorMatrix";

minorMatrix(1);
