// The holder page (/holder on a city's issuer): see src/holder/page.ts.
import { startHolderPage } from "../holder/page.js";

startHolderPage();
