import { formatMoney } from "../lib/money";

export function PriceTag({ cents }: { cents: number }) {
  return <span className="price">{formatMoney(cents)}</span>;
}
