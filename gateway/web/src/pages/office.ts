// The city office's page (/office on a city's issuer): see src/office/page.ts.
import { startOfficePage } from "../office/page.js";

startOfficePage();
