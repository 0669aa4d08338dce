/** The page's entry: one client, one store subscription, one React root. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createClient } from './api/client';
import { App } from './App';
import { connectStore } from './store/connect';
import './styles.css';

connectStore(createClient());
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
