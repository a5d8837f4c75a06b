import 'reflect-metadata';
import { loadConfig } from './config.js';
import { readyLine, start } from './server/app.js';
import { handleProcessEvents } from './server/process.js';

const config = loadConfig();
const app = await start(config);
process.stdout.write(readyLine(app.url, config));
handleProcessEvents(app);
