// The request-rate forecast's metrics (src/scaling/, docs/kubernetes.md): read at scrape
// time from the forecaster, which samples the request counters on its own timer.
import type client from 'prom-client';

import type { RequestForecast } from '../scaling/request-forecast.js';
import { scraped } from './scrape-metrics.js';

export function registerForecastMetrics(registry: client.Registry, forecast: RequestForecast): void {
  const signals = forecast.def.signals.join(' + ');
  scraped(
    registry, 'gauge', 'hotpath_request_rate_forecast',
    `Forecast request rate (requests/s of ${signals}) at each horizon after the last closed sampling interval (Holt-Winters with a daily season; scaling.forecast)`,
    ['horizon'], () => forecast.horizons.map((h) => [{ horizon: h.label }, forecast.forecast(h.steps)] as const),
  );
  scraped(registry, 'gauge', 'hotpath_request_rate', `Request rate (requests/s of ${signals}) over the last closed sampling interval: what the forecast learns from`, [], () => forecast.rate);
  scraped(registry, 'gauge', 'hotpath_request_rate_forecast_seasonal', '1 once the forecaster has seen a whole season (its forecast follows the daily pattern), 0 before', [], () => (forecast.seasonal ? 1 : 0));
}
