import { Link } from "react-router-dom";
import { CartItem } from "../components/CartItem";
import { PriceTag } from "../components/PriceTag";
import { useCart } from "../hooks/useCart";

export function CartPage() {
  const { items, subtotalCents, updateQuantity, removeItem } = useCart();

  if (items.length === 0) {
    return (
      <main>
        <p>Your cart is empty.</p>
        <Link to="/">Keep shopping</Link>
      </main>
    );
  }

  return (
    <main>
      <h1>Your cart</h1>
      <ul>
        {items.map((item) => (
          <CartItem
            key={item.product.id}
            item={item}
            onQuantityChange={(q) => updateQuantity(item.product.id, q)}
            onRemove={() => removeItem(item.product.id)}
          />
        ))}
      </ul>
      {/* Stock is not re-checked here: an out-of-stock item fails only at checkout. */}
      <p>
        Subtotal: <PriceTag cents={subtotalCents} />
      </p>
      <Link to="/checkout" className="button">
        Go to checkout
      </Link>
    </main>
  );
}
