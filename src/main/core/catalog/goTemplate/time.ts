/** Time: sprig's now/date with Go layouts. */
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const LAYOUT =
  /January|Jan|Monday|Mon|MST|2006|-07:00:00|-070000|-07:00|-0700|-07|Z07:00:00|Z070000|Z07:00|Z0700|Z07|002|__2|_2|01|02|03|04|05|06|15|PM|pm|[.,](?:0+|9+)(?!\d)|1|2|3|4|5/g;

function zoneAbbreviation(d: Date): string {
  try {
    const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName');
    return part?.value ?? 'UTC';
  } catch {
    return 'UTC';
  }
}

/** Formats a Date in local time with a Go reference-time layout ("Mon Jan 2 15:04:05 MST 2006"). */
export function formatGoTime(d: Date, layout: string): string {
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const offMin = -d.getTimezoneOffset();
  const zone = (colon: boolean, secs: boolean, hoursOnly: boolean, z: boolean): string => {
    if (z && offMin === 0) return 'Z';
    const sign = offMin < 0 ? '-' : '+';
    const h = p2(Math.floor(Math.abs(offMin) / 60));
    const m = p2(Math.abs(offMin) % 60);
    if (hoursOnly) return sign + h;
    return colon ? `${sign}${h}:${m}${secs ? ':00' : ''}` : `${sign}${h}${m}${secs ? '00' : ''}`;
  };
  const start = new Date(d.getFullYear(), 0, 1);
  const yday = Math.round((new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime() - start.getTime()) / 86400000) + 1;
  const h12 = d.getHours() % 12 || 12;
  return layout.replace(LAYOUT, (tok) => {
    switch (tok) {
      case 'January': return MONTHS[d.getMonth()]!;
      case 'Jan': return MONTHS[d.getMonth()]!.slice(0, 3);
      case 'Monday': return DAYS[d.getDay()]!;
      case 'Mon': return DAYS[d.getDay()]!.slice(0, 3);
      case 'MST': return zoneAbbreviation(d);
      case '2006': return String(d.getFullYear()).padStart(4, '0');
      case '06': return p2(d.getFullYear() % 100);
      case '01': return p2(d.getMonth() + 1);
      case '1': return String(d.getMonth() + 1);
      case '02': return p2(d.getDate());
      case '_2': return String(d.getDate()).padStart(2, ' ');
      case '2': return String(d.getDate());
      case '002': return String(yday).padStart(3, '0');
      case '__2': return String(yday).padStart(3, ' ');
      case '15': return p2(d.getHours());
      case '03': return p2(h12);
      case '3': return String(h12);
      case '04': return p2(d.getMinutes());
      case '4': return String(d.getMinutes());
      case '05': return p2(d.getSeconds());
      case '5': return String(d.getSeconds());
      case 'PM': return d.getHours() >= 12 ? 'PM' : 'AM';
      case 'pm': return d.getHours() >= 12 ? 'pm' : 'am';
      case '-0700': return zone(false, false, false, false);
      case '-07:00': return zone(true, false, false, false);
      case '-07': return zone(false, false, true, false);
      case '-070000': return zone(false, true, false, false);
      case '-07:00:00': return zone(true, true, false, false);
      case 'Z0700': return zone(false, false, false, true);
      case 'Z07:00': return zone(true, false, false, true);
      case 'Z07': return zone(false, false, true, true);
      case 'Z070000': return zone(false, true, false, true);
      case 'Z07:00:00': return zone(true, true, false, true);
    }
    // Fractional seconds: .000 keeps zeros, .999 trims them (and the point when all are zero).
    const digits = tok.length - 1;
    const frac = String(d.getMilliseconds()).padStart(3, '0').padEnd(digits, '0').slice(0, digits);
    if (tok[1] === '0') return tok[0]! + frac;
    const trimmed = frac.replace(/0+$/, '');
    return trimmed ? tok[0]! + trimmed : '';
  });
}
