import type { CartLine } from "../hooks/useCart";
import { PriceTag } from "./PriceTag";

type Props = {
  item: CartLine;
  onQuantityChange: (quantity: number) => void;
  onRemove: () => void;
};

export function CartItem({ item, onQuantityChange, onRemove }: Props) {
  return (
    <li className="cart-item">
      <span>{item.product.name}</span>
      <input
        type="number"
        min={1}
        max={99}
        value={item.quantity}
        onChange={(e) => onQuantityChange(Number(e.target.value))}
      />
      <PriceTag cents={item.product.priceCents * item.quantity} />
      <button onClick={onRemove} aria-label={`Remove ${item.product.name}`}>
        ×
      </button>
    </li>
  );
}
