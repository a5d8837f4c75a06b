import 'reflect-metadata';
import { loadConfig } from './config.js';
import { start } from './server/app.js';
import { handleProcessEvents } from './server/process.js';

handleProcessEvents(await start(loadConfig()));
